// The agent's core, independent of the transport: it holds its node's
// desired state, reconciles the kernel to it (on every change, periodically,
// and soon after one of its links disappears), and produces reports. A
// repair is drift: work a reconcile had to do on an endpoint this agent had
// already brought in place as its spec says. A new endpoint's first build, a
// changed spec, a restart action and an endpoint's first pass after an agent
// restart (which may finish a build the earlier agent was killed in) are
// builds, logged ("built:", "adopted:") but not reported as repairs. Each
// repair line ends with the state the endpoint was left in ("(now ready)").
// All kernel work runs one reconcile at a time, through the node's kernel
// (a NodeKernel; a test gives a fake one).
import { EventEmitter } from 'node:events';
import { AF } from '../netlink/constants.js';
import { addrList } from '../netlink/addr.js';
import { LinkWatcher } from '../netlink/events.js';
import { netnsExists } from '../netlink/netns.js';
import { linkList } from '../netlink/link.js';
import { NetlinkSocket } from '../netlink/socket.js';
import { NodeKernel, type EndpointResult } from '../endpoint/node.js';
import type { DesiredEndpoint } from '../endpoint/spec.js';
import { parseAlias } from '../ownership.js';
import type { TunnelKind } from '../tunnel/types.js';
import type { EgressDesired, EgressStatus } from '../bgp/desired.js';
import { AgentEgress } from './egress.js';
import { chooseUnderlay } from './underlay.js';
import { underlayMtus } from './underlay-mtu.js';
import { shaperSupport, type ShaperSupport } from '../shape/probe.js';
import { underlayCapacity, type UnderlayCapacity } from './underlay-capacity.js';
import { HealthProber, type HealthOptions } from '../health/prober.js';
import { probeTargets } from '../health/targets.js';
import type { PairHealth } from '../health/pair.js';
import { withFields, type LogFn } from '../log.js';
import type { AgentMetrics, EndpointSample } from '../metrics/agent.js';
export type { DesiredEndpoint, PairHealth };

/** degraded and down: built, but link health says it does not carry traffic (or not all of it). */
export type EndpointState = 'ready' | 'failed' | 'stopped' | 'configuring' | 'degraded' | 'down';
export interface Teardown { slice: string; group: number; namespaces: string[] }
export interface Desired {
  generation: number; endpoints: DesiredEndpoint[]; teardowns: Teardown[]; egress?: EgressDesired;
  /** The API call this state comes from (the controller's request id): the records about applying it carry it. */
  requestId?: string;
}

export interface EndpointReport {
  slice: string; link: string; state: EndpointState; error?: string; bridge?: string; devices: string[];
  rxPackets: number; txPackets: number; rxBytes: number; txBytes: number;
  /** Who carries the link's tunnels on this node: the kernel, or visp-engine where the kernel has no driver. */
  dataplane?: 'kernel' | 'userspace';
  /** Per remote member, what the probes say (src/health); absent: not probed (not ready, or a kind without probes). */
  health?: PairHealth[];
}
export interface Report {
  generation: number; endpoints: EndpointReport[];
  /**
   * Drift found in this pass, one line per step: "<slice>/<link>: repaired:
   * <step> (now <state>)", or "<slice>/<link>: repair failed: <steps>
   * (<error>) (now failed)"; on an egress node also "egress: repaired: <step>".
   */
  repairs: string[];
  tornDown: string[];
  egress?: EgressStatus;
  /** Namespaces on this node that no slice may use (NodeKernel.reservedNamespaces): the controller refuses them at Allocate. */
  reservedNamespaces: string[];
}

/** What the agent asks of its node's kernel: NodeKernel's reconcile, teardown and reads. */
export type AgentKernel = Pick<NodeKernel, 'reconcile' | 'restartEndpoint' | 'prune' | 'teardownSlice' | 'owned' | 'reservedNamespaces' | 'capabilities' | 'close'>;

export interface AgentCoreOptions {
  /** Default: the namespace this process runs in. */
  netns?: string;
  /** The node's kernel; default: a NodeKernel for `netns` that builds only in namespaces visp made (tests give a fake). */
  kernel?: AgentKernel;
  reconcileIntervalMs?: number;
  log?: LogFn;
  /** Where the agent's metrics go (src/metrics/agent.ts); absent: none kept. */
  metrics?: AgentMetrics;
  /** The node's name (names its BGP speaker's socket and log); default: the namespace, or "local". */
  name?: string;
  /** Where the BGP speaker's socket and log live (default /run/visp). */
  runDir?: string;
  /** Link health probing (src/health; docs/operations.md): its timing, or false for none. */
  health?: Partial<HealthOptions> | false;
}

const key = (s: { slice: string; link: string }): string => `${s.slice}/${s.link}`;

export class AgentCore extends EventEmitter<{ report: [Report] }> {
  private readonly kernel: AgentKernel;
  private readonly egress: AgentEgress;
  private readonly prober: HealthProber | undefined;
  /** Per endpoint, the health verdict last reported ('' for healthy): a change is logged once. */
  private readonly verdicts = new Map<string, string>();
  private readonly opts: AgentCoreOptions;
  private desired: Desired | undefined;
  private readonly seenRestart = new Map<string, number>();
  /** Per endpoint, the spec (fingerprint) this agent last brought it in place with: steps for that same spec are drift. */
  private readonly inPlace = new Map<string, string>();
  /** The egress desired state (fingerprint) last applied: steps for that same state are drift. */
  private egressApplied: string | undefined;
  /** The namespaces last read as reserved (reported again when a read fails). */
  private reserved: string[] = [];
  private tail: Promise<void> = Promise.resolve();
  private pending = false;
  private timer: NodeJS.Timeout | undefined;
  private watcher: LinkWatcher | undefined;
  private closed = false;
  /** The desired state the last pass applied: a pass on a new one logs with its request id. */
  private applied: Desired | undefined;

  constructor(opts: AgentCoreOptions = {}) {
    super();
    this.opts = opts;
    this.kernel = opts.kernel ?? new NodeKernel({
      // An agent builds only in namespaces visp created for the slice (docs/ownership.md).
      namespaces: 'owned',
      ...(opts.netns ? { netns: opts.netns } : {}), ...(opts.log ? { log: withFields(opts.log, { component: 'kernel' }) } : {}),
      // With a run directory (lab mode, tests), the engine's socket and log live there too, named after the node.
      ...(opts.runDir ? { engine: { runDir: opts.runDir, ...(opts.name ? { name: opts.name } : {}) } } : {}),
    });
    this.egress = new AgentEgress({
      name: opts.name ?? opts.netns ?? 'local', ...(opts.netns ? { netns: opts.netns } : {}), ...(opts.runDir ? { runDir: opts.runDir } : {}),
      ...(opts.log ? { log: withFields(opts.log, { component: 'bgp' }) } : {}),
    });
    if (opts.health !== false) {
      this.prober = new HealthProber({ ...(opts.netns ? { netns: opts.netns } : {}), ...(opts.health ? { health: opts.health } : {}), links: () => this.watcher });
      // A pair found dead or alive again: report now, not at the next timer pass.
      this.prober.on('change', () => this.schedule(0));
      this.prober.on('error', (e) => this.opts.log?.(`health: ${e.message}`, { component: 'health', level: 'warn' }));
    }
  }

  /**
   * What the node tells the controller when it registers. The underlay: the
   * addresses given (each must be on this node), else chosen by the rule in
   * underlay.ts from the controller's address (without one: as for a
   * controller on this machine).
   */
  async identity(underlayOverride?: string[], controller?: string, capacity?: UnderlayCapacity): Promise<{ underlay: string[]; underlayMtu: Record<string, number>; capabilities: Array<{ kind: TunnelKind; supported: boolean; reason?: string }>; shapers: ShaperSupport[]; underlayCapacity?: number }> {
    const underlay = await chooseUnderlay({
      controller: controller ?? 'unix:', ...(underlayOverride?.length ? { given: underlayOverride } : {}),
      ...(this.opts.netns ? { netns: this.opts.netns } : {}), ...(this.opts.log ? { log: this.opts.log } : {}),
    });
    const caps = await this.kernel.capabilities();
    const underlayMtu = await underlayMtus(underlay, this.opts.netns);
    const bps = await underlayCapacity(underlay, capacity, this.opts.netns);
    return { underlay, underlayMtu, capabilities: Object.values(caps).map((c) => ({ ...c })), shapers: await shaperSupport(), ...(bps ? { underlayCapacity: bps } : {}) };
  }

  /** Namespaces no slice may use on this node (the node's own, every one visp did not create): for Register and every report. */
  reservedNamespaces(): Promise<string[]> {
    return this.kernel.reservedNamespaces();
  }

  /** Start periodic drift repair and the link watcher. */
  async start(): Promise<void> {
    this.watcher = new LinkWatcher(this.opts.netns ? { netns: this.opts.netns } : {});
    await this.watcher.start();
    // One of our links vanished (deleted by hand, or its veth peer went): repair soon.
    this.watcher.on('link', (ev) => { if (ev.type === 'del' && parseAlias(ev.link.alias)) this.schedule(100); });
    this.watcher.on('error', (e) => this.opts.log?.(`link watcher: ${e.message}`));
    // Also how often counters reach the controller: a no-op reconcile is a few dumps.
    const every = this.opts.reconcileIntervalMs ?? 2000;
    this.timer = setInterval(() => this.schedule(0), every);
    this.timer.unref();
  }

  setDesired(d: Desired): void {
    this.desired = d;
    this.enqueue();
  }

  /** Dry run: the steps these endpoints would take now. */
  async plan(endpoints: DesiredEndpoint[]): Promise<Array<{ slice: string; link: string; steps: string[]; error?: string }>> {
    const r = await this.kernel.reconcile(endpoints, { dryRun: true });
    return r.map((x) => ({ slice: x.slice, link: x.link, steps: x.steps, ...(x.error ? { error: x.error.message } : {}) }));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.watcher?.close();
    await this.tail.catch(() => undefined);
    this.prober?.close();
    // gobgpd keeps running: the next agent adopts it without a flap.
    this.egress.close();
    this.kernel.close();
  }

  /** A pass soon (the timer, a link event), unless one is already scheduled. */
  private schedule(delayMs: number): void {
    if (this.pending || this.closed) return;
    this.pending = true;
    setTimeout(() => { this.pending = false; this.enqueue(); }, delayMs).unref();
  }

  private enqueue(): void {
    this.tail = this.tail.then(() => this.reconcile()).catch((e: Error) => {
      this.opts.metrics?.pass({ seconds: 0, error: true, builds: 0, repairs: 0, failedSteps: 0 });
      this.opts.log?.(`reconcile failed: ${e.stack ?? e.message}`, { level: 'error', component: 'reconcile' });
    });
  }

  /**
   * One pass. What triggered it (a desired-state change, the timer, a link
   * event) does not decide what is a repair: a timer pass may be the first
   * to see a new slice (that is how new slices' builds came to be reported
   * as repairs), and a change pass may find drift.
   */
  private async reconcile(): Promise<void> {
    const d = this.desired;
    if (!d || this.closed) return;
    const started = performance.now();
    // Records about applying a state the controller just sent carry its request id; later passes' (repairs) do not.
    const requestId = d !== this.applied ? d.requestId : undefined;
    this.applied = d;
    const log = (line: string, f: { slice?: string; link?: string; level?: 'info' | 'warn' | 'error' } = {}): void =>
      this.opts.log?.(line, { component: 'reconcile', ...f, ...(requestId ? { requestId } : {}) });
    const tornDown: string[] = [];
    for (const t of d.teardowns) {
      // Its links by group, then the namespaces visp created for it; a
      // namespace not marked as the slice's is left exactly as it is.
      const r = await this.kernel.teardownSlice(t);
      for (const why of r.untouched) log(`teardown ${t.slice}: left alone: ${why}`, { slice: t.slice, level: 'warn' });
      tornDown.push(t.slice);
    }
    const wanted = new Set(d.endpoints.map(key));
    const beingTornDown = new Set(d.teardowns.map((t) => t.slice));
    for (const gone of await this.kernel.prune((slice, link) => wanted.has(`${slice}/${link}`) || beingTornDown.has(slice))) {
      const [slice, link] = gone.split('/');
      log(`pruned ${gone}: not desired here`, { ...(slice ? { slice } : {}), ...(link ? { link } : {}) });
    }
    for (const m of [this.seenRestart, this.inPlace]) for (const k of [...m.keys()]) if (!wanted.has(k)) m.delete(k);

    // A restart action: rebuild once per bump (after an agent restart, adopt instead).
    for (const e of d.endpoints) {
      const seen = this.seenRestart.get(key(e));
      if (seen !== undefined && e.restart > seen) await this.kernel.restartEndpoint(e);
      this.seenRestart.set(key(e), e.restart);
    }
    const results = await this.kernel.reconcile(d.endpoints);
    const endpoints = await this.withHealth(d.endpoints, await this.reports(d.endpoints, results));
    const repairs: string[] = [];
    /** Each repair line's record: what it is about, and whether it failed. */
    const repairRecords: Array<{ slice?: string; link?: string; level: 'warn' | 'error' }> = [];
    const counts = { builds: 0, repairs: 0, failedSteps: 0 };
    results.forEach((r, i) => {
      const e = d.endpoints[i]!;
      const k = key(e), fp = fingerprint(e);
      const drift = this.inPlace.get(k) === fp;
      if (!r.error) this.inPlace.set(k, fp);
      if (!r.steps.length) return;
      const at = { slice: e.slice, link: e.link };
      if (r.error) counts.failedSteps += r.steps.length;
      // Not drift: a build, or finishing what an earlier agent left (its objects were there: adopted).
      if (!drift) {
        if (!r.error) counts.builds += r.steps.length;
        for (const step of r.steps) log(`${k}: ${r.found ? 'adopted' : 'built'}: ${step}`, at);
        if (r.error) log(`${k}: failed: ${r.error.message}`, { ...at, level: 'error' });
        return;
      }
      const state = endpoints[i]!.state;
      if (r.error) { repairs.push(`${k}: repair failed: ${r.steps.join('; ')} (${r.error.message}) (now ${state})`); repairRecords.push({ ...at, level: 'error' }); }
      else for (const step of r.steps) { counts.repairs++; repairs.push(`${k}: repaired: ${step} (now ${state})`); repairRecords.push({ ...at, level: 'warn' }); }
    });
    // Egress after the endpoints: a slice's table routes to its egress link's bridge.
    const egressFp = JSON.stringify(d.egress ?? null);
    const egressSteps = await this.egress.apply(d.egress).catch((e: Error) => { log(`egress: ${e.message}`, { level: 'error' }); return undefined; });
    if (egressSteps && this.egressApplied === egressFp) {
      for (const s of egressSteps) { counts.repairs++; repairs.push(`egress: repaired: ${s}`); repairRecords.push({ level: 'warn' }); }
    }
    else { counts.builds += egressSteps?.length ?? 0; for (const s of egressSteps ?? []) log(`egress: ${s}`); }
    if (egressSteps) this.egressApplied = egressFp;
    repairs.forEach((line, i) => log(line, repairRecords[i]));
    const egress = this.egress.status();
    // The egress end of an egress link is ready only while the slice's egress here can carry traffic.
    d.endpoints.forEach((e, i) => {
      const why = e.egress && endpoints[i]?.state === 'ready' ? this.egress.notReady(e.slice) : undefined;
      if (why) endpoints[i] = { ...endpoints[i]!, state: 'failed', error: why };
    });
    // A failed read is not "nothing is reserved" (the controller would let a slice take the node's own
    // namespace): the last list read stays what is reported until a read succeeds again.
    const reservedNamespaces = await this.kernel.reservedNamespaces().then(
      (r) => (this.reserved = r),
      (e: Error) => { log(`reserved namespaces: ${e.message}; reporting the last list read`, { level: 'warn' }); return this.reserved; },
    );
    const m = this.opts.metrics;
    if (m) {
      m.endpoints(endpoints.map((r, i): EndpointSample => ({ ...r, kind: d.endpoints[i]!.kind, ...this.drops.get(key(r)) ?? { rxDropped: 0, txDropped: 0 } })));
      // Link health per member pair (visp_link_health_up, visp_link_rtt_seconds, visp_link_probe_loss_ratio); none where not probed.
      for (const r of endpoints) m.linkHealth(r.slice, r.link, r.health);
      m.bgp(egress?.enabled ? {
        peers: egress.peers,
        slices: egress.slices.map((s) => ({ slice: s.slice, announced: s.announced.length, received: s.routesInstalled })),
      } : undefined);
      m.pass({ seconds: (performance.now() - started) / 1000, ...counts });
    }
    this.emit('report', { generation: d.generation, endpoints, repairs, tornDown, ...(egress ? { egress } : {}), reservedNamespaces });
    if (tornDown.length && this.desired === d) {
      // Done here; the controller drops the teardown from later desired states.
      this.desired = { ...d, teardowns: [] };
    }
  }

  /**
   * Probes what is ready now, and shows what the probes say: a ready
   * endpoint none of whose members answers is down, one some of whose do
   * not (a LAN), or that loses too many probes, degraded; the reason is its
   * error.
   */
  private async withHealth(desired: DesiredEndpoint[], reports: EndpointReport[]): Promise<EndpointReport[]> {
    if (!this.prober) return reports;
    const targets = probeTargets(desired.map((spec, i) => ({ spec, ready: reports[i]!.state === 'ready' })));
    await this.prober.setTargets(targets).catch((e: Error) => this.opts.log?.(`health: ${e.message}`, { component: 'health', level: 'error' }));
    const seen = new Set<string>();
    const out = reports.map((r) => {
      const k = key(r);
      const h = r.state === 'ready' ? this.prober!.health(k) : undefined;
      if (!h) return r;
      seen.add(k);
      const was = this.verdicts.get(k) ?? '';
      const now = h.verdict?.state ?? '';
      if (now !== was) {
        this.opts.log?.(`${k}: health: ${now ? `${now}: ${h.verdict!.reason}` : 'every member answers'}`,
          { component: 'health', slice: r.slice, link: r.link, level: now ? 'warn' : 'info' });
      }
      this.verdicts.set(k, now);
      return { ...r, health: h.pairs, ...(h.verdict ? { state: h.verdict.state, error: h.verdict.reason } : {}) };
    });
    for (const k of [...this.verdicts.keys()]) if (!seen.has(k)) this.verdicts.delete(k);
    return out;
  }

  /** Per endpoint, the packets its tunnel devices dropped, as the last pass read them (metrics only: reports do not carry them). */
  private drops = new Map<string, { rxDropped: number; txDropped: number }>();

  private async reports(endpoints: DesiredEndpoint[], results: EndpointResult[]): Promise<EndpointReport[]> {
    const namespaces = [...new Set(endpoints.filter((e) => !e.egress).map((e) => e.netns))].filter(netnsExists);
    const owned = await this.kernel.owned(namespaces, { stats: true }).catch(() => []);
    const caps = await this.kernel.capabilities();
    const drops = new Map<string, { rxDropped: number; txDropped: number }>();
    const out = endpoints.map((e, i): EndpointReport => {
      const r = results[i]!;
      const mine = owned.filter((o) => o.slice === e.slice && o.link === e.link);
      const tunnels = mine.filter((o) => o.kind === e.kind || (o.kind !== 'bridge' && o.kind !== 'veth'));
      const sum = (k: 'rxPackets' | 'txPackets' | 'rxBytes' | 'txBytes' | 'rxDropped' | 'txDropped'): number => tunnels.reduce((a, o) => a + (o.stats?.[k] ?? 0), 0);
      drops.set(key(e), { rxDropped: sum('rxDropped'), txDropped: sum('txDropped') });
      const bridge = mine.find((o) => o.kind === 'bridge')?.name;
      return {
        slice: e.slice, link: e.link,
        state: r.error ? 'failed' : e.adminDown ? 'stopped' : 'ready',
        ...(r.error ? { error: r.error.message } : {}),
        ...(bridge ? { bridge } : {}),
        devices: tunnels.map((o) => o.name),
        rxPackets: sum('rxPackets'), txPackets: sum('txPackets'), rxBytes: sum('rxBytes'), txBytes: sum('txBytes'),
        ...(caps[e.kind]?.dataplane ? { dataplane: caps[e.kind].dataplane } : {}),
      };
    });
    this.drops = drops;
    return out;
  }
}

/** An endpoint's spec as one string: a different string is a different spec (a build, not drift). */
const fingerprint = (e: DesiredEndpoint): string => JSON.stringify(canonical(e));
const canonical = (v: unknown): unknown => (Array.isArray(v) ? v.map(canonical)
  : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])])) : v);

/** The node's global unicast addresses (the underlay), IPv4 first. */
export async function globalAddresses(netns?: string): Promise<string[]> {
  const s = new NetlinkSocket(netns ? { netns } : {});
  try {
    const links = new Map((await linkList(s)).map((l) => [l.index, l]));
    const addrs = (await addrList(s)).filter((a) => a.scope === 0 && !links.get(a.index)?.alias?.startsWith('visp:') && links.get(a.index)?.name !== 'lo');
    return [...addrs.filter((a) => a.family === AF.INET), ...addrs.filter((a) => a.family === AF.INET6)].map((a) => a.address);
  } finally {
    s.close();
  }
}
