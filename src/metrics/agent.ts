// An agent's Prometheus metrics. Everything here is fed by the agent as it
// works (a reconcile pass, its report, its egress status, link health) and
// kept as plain values; a scrape only formats what is kept. So a scrape
// never walks a kernel: the per-endpoint counters are the link statistics
// the last reconcile pass dumped over netlink anyway (every
// reconcile_interval, 2 s by default), and a scrape of a node with 1,000
// endpoints costs a few milliseconds (npm run bench -- metrics).
//
// The per-endpoint families (thousands of series on a big node) are written
// as text directly, once per reconcile pass at most and only when scraped:
// through prom-client's registry they took ~30 ms per scrape at 1,000
// endpoints (it hashes every label set twice and re-escapes each value),
// written here ~2 ms. Everything else goes through prom-client.
//
// Names follow Prometheus' conventions (base units, `_total` for counters);
// every label set and its bound is listed in docs/operations.md, "Metrics".
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One endpoint's kernel counters (summed over its tunnel devices) and state, as the last pass read them. */
export interface EndpointSample {
  slice: string;
  link: string;
  kind: string;
  state: string;
  dataplane?: string;
  rxBytes: number; txBytes: number; rxPackets: number; txPackets: number; rxDropped: number; txDropped: number;
}

/** What probing says about one remote member of an endpoint's link (src/health feeds this; structurally its PairHealth). */
export interface PairHealthSample {
  remote: string;
  /** undefined: not decided yet (no series). */
  alive: boolean | undefined;
  rttP50Ms?: number;
  rttP99Ms?: number;
  /** 0–1 over the probe window. */
  loss: number;
}

/** One reconcile pass, as the agent counts it. */
export interface PassSample {
  seconds: number;
  /** The pass threw (a kernel read failed): nothing else of it is counted. */
  error?: boolean;
  /** Steps taken to build (new, changed or restarted endpoints, adoption). */
  builds: number;
  /** Steps taken to repair drift (docs/operations.md). */
  repairs: number;
  /** Steps planned for endpoints whose apply failed. */
  failedSteps: number;
}

/** An egress node's BGP speaker, as the agent reports it. */
export interface BgpSample {
  peers: Array<{ address: string; asn: number; state: string; received: number; accepted: number; advertised: number }>;
  slices: Array<{ slice: string; announced: number; received: number }>;
}

/**
 * Per-endpoint series are kept for at most this many endpoints (in the
 * order the desired state lists them); the rest are summed into one series
 * labelled slice="_other", link="_other". A node is far below it in any
 * testbed we know (the controller's limits bound a slice's links), so the
 * bound is there only so that no mistake can make a scrape unbounded.
 */
export const MAX_ENDPOINT_SERIES = 10_000;
/** The same bound for per-slice BGP series on an egress node. */
export const MAX_SLICE_SERIES = 2_000;
export const OTHER = '_other';

export const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class AgentMetrics {
  readonly registry = new Registry();
  private endpointsNow: EndpointSample[] = [];
  /** The per-endpoint families as exposition text, for endpointsNow; made at the first scrape after a pass. */
  private endpointText: string | undefined;
  /** The link health families as exposition text, for `health`; made at the first scrape after a change. */
  private healthText: string | undefined;
  private readonly health = new Map<string, { slice: string; link: string; pairs: PairHealthSample[] }>();
  private bgpNow: BgpSample | undefined;

  private readonly passes = new Counter({ name: 'visp_reconcile_passes_total', help: 'Reconcile passes, by result (ok, error).', labelNames: ['result'], registers: [this.registry] });
  private readonly duration = new Histogram({ name: 'visp_reconcile_duration_seconds', help: 'How long a reconcile pass took (read the kernel, diff, apply, report).', buckets: RECONCILE_BUCKETS, registers: [this.registry] });
  private readonly builds = new Counter({ name: 'visp_reconcile_builds_total', help: 'Steps applied to build endpoints (new, changed, restarted, adopted).', registers: [this.registry] });
  private readonly repairs = new Counter({ name: 'visp_reconcile_repairs_total', help: 'Steps applied to repair drift on endpoints that were already in place.', registers: [this.registry] });
  private readonly failedSteps = new Counter({ name: 'visp_reconcile_failed_steps_total', help: 'Steps of endpoints whose apply failed.', registers: [this.registry] });

  constructor(node: string, version: string) {
    const r = [this.registry];
    // `nodename` (as node_exporter's uname info), not `node`: a scrape config that labels targets `node` would rename it.
    new Gauge({ name: 'visp_agent_info', help: 'The agent: its node and version (always 1).', labelNames: ['nodename', 'version'], registers: r }).set({ nodename: node, version }, 1);
    collectDefaultMetrics({ register: this.registry });
    // Initialised so that rate() works from the first scrape.
    this.passes.inc({ result: 'ok' }, 0);
    this.passes.inc({ result: 'error' }, 0);

    const self = this;
    new Gauge({
      name: 'visp_endpoints', help: 'Endpoints on this node by state.', labelNames: ['state'], registers: r,
      collect() {
        this.reset();
        const n = new Map<string, number>();
        for (const e of self.endpointsNow) n.set(e.state, (n.get(e.state) ?? 0) + 1);
        for (const [state, v] of n) this.set({ state }, v);
      },
    });

    // Link health (src/health): written as text with the per-endpoint families (healthFamilies), for the same reason.

    // BGP, on an egress node: absent elsewhere.
    new Gauge({
      name: 'visp_bgp_sessions', help: 'BGP sessions of this node\'s speaker by state (established, active, idle, …).', labelNames: ['state'], registers: r,
      collect() {
        this.reset();
        const n = new Map<string, number>();
        for (const p of self.bgpNow?.peers ?? []) n.set(p.state, (n.get(p.state) ?? 0) + 1);
        for (const [state, v] of n) this.set({ state }, v);
      },
    });
    const perPeer = (name: string, help: string, pick: (p: BgpSample['peers'][number]) => number): void => {
      new Gauge({
        name, help, labelNames: ['peer', 'peer_asn'], registers: r,
        collect() { this.reset(); for (const p of self.bgpNow?.peers ?? []) this.set({ peer: p.address, peer_asn: String(p.asn) }, pick(p)); },
      });
    };
    perPeer('visp_bgp_peer_up', 'Whether the session with the provider is established (1) or not (0).', (p) => (p.state === 'established' ? 1 : 0));
    perPeer('visp_bgp_peer_prefixes_received', 'Prefixes received from the provider.', (p) => p.received);
    perPeer('visp_bgp_peer_prefixes_accepted', 'Prefixes received from the provider and accepted by the import policy.', (p) => p.accepted);
    perPeer('visp_bgp_peer_prefixes_advertised', 'Prefixes advertised to the provider.', (p) => p.advertised);
    const perSlice = (name: string, help: string, pick: (s: BgpSample['slices'][number]) => number): void => {
      new Gauge({
        name, help, labelNames: ['slice'], registers: r,
        collect() { this.reset(); for (const s of self.sliceSeries()) this.inc({ slice: s.slice }, pick(s)); },
      });
    };
    perSlice('visp_bgp_slice_prefixes_announced', 'The slice\'s prefixes this node announces to its providers.', (s) => s.announced);
    perSlice('visp_bgp_slice_prefixes_received', 'Routes from the providers installed in the slice\'s routing table on this node.', (s) => s.received);
  }

  /** A reconcile pass finished. */
  pass(p: PassSample): void {
    this.passes.inc({ result: p.error ? 'error' : 'ok' });
    this.duration.observe(p.seconds);
    if (p.error) return;
    if (p.builds) this.builds.inc(p.builds);
    if (p.repairs) this.repairs.inc(p.repairs);
    if (p.failedSteps) this.failedSteps.inc(p.failedSteps);
  }

  /** The endpoints as the last pass read them (replaces what was kept). */
  endpoints(list: EndpointSample[]): void {
    this.endpointsNow = list;
    this.endpointText = undefined;
    const keep = new Set(list.map((e) => `${e.slice}/${e.link}`));
    for (const k of this.health.keys()) if (!keep.has(k)) this.health.delete(k);
    this.healthText = undefined;
  }

  /** The endpoints as kept now (tests, benchmarks). */
  endpointSamples(): readonly EndpointSample[] { return this.endpointsNow; }

  /** Link health of one endpoint (src/health); undefined or empty: not probed (its series go). */
  linkHealth(slice: string, link: string, pairs: readonly PairHealthSample[] | undefined): void {
    const k = `${slice}/${link}`;
    if (!pairs?.length) this.health.delete(k);
    else this.health.set(k, { slice, link, pairs: pairs.map((p) => ({ ...p })) });
    this.healthText = undefined;
  }

  /** The egress node's speaker; undefined: not an egress node (no series). */
  bgp(s: BgpSample | undefined): void {
    this.bgpNow = s;
  }

  /** The text a scrape gets. */
  async scrape(): Promise<string> {
    const rest = await this.registry.metrics();
    this.endpointText ??= endpointFamilies([...this.endpointSeries()]);
    this.healthText ??= healthFamilies([...this.healthSeries()]);
    return rest + this.endpointText + this.healthText;
  }

  private *endpointSeries(): Generator<EndpointSample> {
    const all = this.endpointsNow;
    for (let i = 0; i < Math.min(all.length, MAX_ENDPOINT_SERIES); i++) yield all[i]!;
    if (all.length <= MAX_ENDPOINT_SERIES) return;
    const rest: EndpointSample = { slice: OTHER, link: OTHER, kind: OTHER, state: OTHER, rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0, rxDropped: 0, txDropped: 0 };
    for (let i = MAX_ENDPOINT_SERIES; i < all.length; i++) {
      const e = all[i]!;
      rest.rxBytes += e.rxBytes; rest.txBytes += e.txBytes; rest.rxPackets += e.rxPackets; rest.txPackets += e.txPackets; rest.rxDropped += e.rxDropped; rest.txDropped += e.txDropped;
    }
    yield rest;
  }

  /**
   * Link health of the endpoints that have series of their own (the first
   * MAX_ENDPOINT_SERIES): the folded rest have none, as they have no info
   * series, so health cannot make a scrape unbounded either.
   */
  private *healthSeries(): Generator<{ slice: string; link: string; pairs: readonly PairHealthSample[] }> {
    const all = this.endpointsNow;
    if (all.length <= MAX_ENDPOINT_SERIES) { yield* this.health.values(); return; }
    for (let i = 0; i < MAX_ENDPOINT_SERIES; i++) {
      const h = this.health.get(`${all[i]!.slice}/${all[i]!.link}`);
      if (h) yield h;
    }
  }

  private *sliceSeries(): Generator<{ slice: string; announced: number; received: number }> {
    const all = this.bgpNow?.slices ?? [];
    for (let i = 0; i < all.length; i++) yield i < MAX_SLICE_SERIES ? all[i]! : { ...all[i]!, slice: OTHER };
  }
}

/** A label value as the exposition format wants it: backslash, double quote and newline escaped. */
const esc = (v: string): string => (/[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v);

const COUNTERS: Array<[name: string, help: string, pick: (e: EndpointSample) => number]> = [
  ['visp_endpoint_receive_bytes_total', 'Bytes received by the endpoint\'s tunnel devices (kernel link statistics).', (e) => e.rxBytes],
  ['visp_endpoint_transmit_bytes_total', 'Bytes sent by the endpoint\'s tunnel devices.', (e) => e.txBytes],
  ['visp_endpoint_receive_packets_total', 'Packets received by the endpoint\'s tunnel devices.', (e) => e.rxPackets],
  ['visp_endpoint_transmit_packets_total', 'Packets sent by the endpoint\'s tunnel devices.', (e) => e.txPackets],
  ['visp_endpoint_receive_drop_total', 'Packets the endpoint\'s tunnel devices dropped on receive.', (e) => e.rxDropped],
  ['visp_endpoint_transmit_drop_total', 'Packets the endpoint\'s tunnel devices dropped on send.', (e) => e.txDropped],
];

/** The per-endpoint families in Prometheus' text format (version 0.0.4): six counters and an info gauge. */
export function endpointFamilies(list: readonly EndpointSample[]): string {
  const labels = list.map((e) => `slice="${esc(e.slice)}",link="${esc(e.link)}"`);
  const out: string[] = [];
  for (const [name, help, pick] of COUNTERS) {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    list.forEach((e, i) => out.push(`${name}{${labels[i]}} ${pick(e)}`));
  }
  out.push('# HELP visp_endpoint_info Each endpoint on this node: its state, encapsulation and data plane (always 1).', '# TYPE visp_endpoint_info gauge');
  list.forEach((e, i) => {
    if (e.slice !== OTHER) out.push(`visp_endpoint_info{${labels[i]},state="${esc(e.state)}",kind="${esc(e.kind)}",dataplane="${esc(e.dataplane ?? 'kernel')}"} 1`);
  });
  return `${out.join('\n')}\n`;
}

/**
 * The link health families in the text format: per member pair, up (once
 * decided), RTT by quantile (once answered), loss (once decided). Through
 * prom-client these took ~30 ms per scrape at 1,000 endpoints; as text,
 * a few (npm run bench -- health, scrape_ms_1000).
 */
export function healthFamilies(list: ReadonlyArray<{ slice: string; link: string; pairs: readonly PairHealthSample[] }>): string {
  const up: string[] = [], rtt: string[] = [], loss: string[] = [];
  for (const h of list) {
    const base = `slice="${esc(h.slice)}",link="${esc(h.link)}"`;
    for (const p of h.pairs) {
      const l = `${base},remote="${esc(p.remote)}"`;
      if (p.alive !== undefined) { up.push(`visp_link_health_up{${l}} ${p.alive ? 1 : 0}`); loss.push(`visp_link_probe_loss_ratio{${l}} ${p.loss}`); }
      if (p.rttP50Ms !== undefined) rtt.push(`visp_link_rtt_seconds{${l},quantile="0.5"} ${p.rttP50Ms / 1000}`);
      if (p.rttP99Ms !== undefined) rtt.push(`visp_link_rtt_seconds{${l},quantile="0.99"} ${p.rttP99Ms / 1000}`);
    }
  }
  return `${[
    '# HELP visp_link_health_up Whether probes through the link reach the remote member (1) or not (0); absent until decided.', '# TYPE visp_link_health_up gauge', ...up,
    '# HELP visp_link_rtt_seconds Round-trip time through the link to the remote member over the probe window, by quantile (0.5, 0.99).', '# TYPE visp_link_rtt_seconds gauge', ...rtt,
    '# HELP visp_link_probe_loss_ratio Share of probes to the remote member lost over the probe window (0–1).', '# TYPE visp_link_probe_loss_ratio gauge', ...loss,
  ].join('\n')}\n`;
}
