// The controller's Prometheus metrics: its API calls (counted and timed at
// the gRPC edge, by method and status code), its agents, its slices, and
// how full its address pools and identifier ranges are.
//
// A scrape must not hold the event loop (the controller's rule: no request
// holds it for more than tens of milliseconds). Calls are counted as they
// end; the views below are read through small functions the controller
// answers from what it keeps (a count of nodes, IPAM's pool indices), and
// the IPAM figures, which wait their turn on IPAM's queue, are re-read at
// most every IPAM_MAX_AGE_MS: scrapes in between get the last figures.
//
// Label sets and their bounds: docs/operations.md, "Metrics".
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface PoolSample {
  pool: string; class: string; family: string;
  /** Addresses in the pool (2^(bits − prefix length)). */
  size: number;
  free: number;
  liveBlocks: number; coolingBlocks: number;
}

export interface IdentifierSample { kind: string; size: number; free: number }

export interface ControllerSources {
  /** Nodes known and connected now. */
  nodes(): { known: number; connected: number };
  /** Slices now. */
  slices(): number;
  /** IPAM's pools and identifier ranges (async: read on IPAM's queue). */
  ipam(): Promise<{ pools: PoolSample[]; identifiers: IdentifierSample[] }>;
}

/** RPC latency buckets, seconds: from a cached read (~0.5 ms) to a big Allocate (tens of seconds). */
export const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const IPAM_MAX_AGE_MS = 5000;

export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'method' | 'code'>;
  private readonly latency: Histogram<'method'>;
  private sources: ControllerSources | undefined;
  private ipamLast: { at: number; value: Awaited<ReturnType<ControllerSources['ipam']>> } | undefined;
  private ipamReading: Promise<Awaited<ReturnType<ControllerSources['ipam']>>> | undefined;

  /** `methods`: every method the API answers (authz.ts's POLICY), so each has series from the start. `now`: the clock IPAM's figures age by. */
  constructor(version: string, methods: readonly string[] = [], private readonly now: () => number = Date.now) {
    const r = [this.registry];
    new Gauge({ name: 'visp_controller_info', help: 'The controller: its version (always 1).', labelNames: ['version'], registers: r }).set({ version }, 1);
    collectDefaultMetrics({ register: this.registry });
    this.calls = new Counter({ name: 'visp_rpc_requests_total', help: 'API calls answered, by method (Service.Rpc) and gRPC status code; a stream is counted when it is refused or set up.', labelNames: ['method', 'code'], registers: r });
    this.latency = new Histogram({ name: 'visp_rpc_duration_seconds', help: 'How long API calls took, from arrival to answer, by method.', labelNames: ['method'], buckets: RPC_BUCKETS, registers: r });
    for (const method of methods) { this.calls.inc({ method, code: 'OK' }, 0); this.latency.zero({ method }); }

    const self = this;
    new Gauge({
      name: 'visp_agents_connected', help: 'Agents connected now (one per node).', registers: r,
      collect() { if (self.sources) this.set(self.sources.nodes().connected); },
    });
    new Gauge({
      name: 'visp_nodes', help: 'Nodes the controller knows (registered at least once).', registers: r,
      collect() { if (self.sources) this.set(self.sources.nodes().known); },
    });
    new Gauge({
      name: 'visp_slices', help: 'Slices the controller holds (allocated, provisioned, or shut down and not yet deleted).', registers: r,
      collect() { if (self.sources) this.set(self.sources.slices()); },
    });
    const poolLabels = ['pool', 'class', 'family'] as const;
    const perPool = (name: string, help: string, pick: (p: PoolSample) => number): void => {
      new Gauge({
        name, help, labelNames: poolLabels, registers: r,
        async collect() {
          const v = await self.ipam();
          this.reset();
          for (const p of v?.pools ?? []) this.set({ pool: p.pool, class: p.class, family: p.family }, pick(p));
        },
      });
    };
    perPool('visp_ipam_pool_addresses', 'Addresses in the pool.', (p) => p.size);
    perPool('visp_ipam_pool_free_addresses', 'Addresses of the pool in no live or cooling block.', (p) => p.free);
    perPool('visp_ipam_pool_utilization_ratio', 'Share of the pool\'s addresses held by slices, live or cooling (0–1).', (p) => (p.size ? 1 - p.free / p.size : 0));
    new Gauge({
      name: 'visp_ipam_pool_blocks', help: 'Slice blocks in the pool, by state (live, cooling).', labelNames: [...poolLabels, 'state'], registers: r,
      async collect() {
        const v = await self.ipam();
        this.reset();
        for (const p of v?.pools ?? []) {
          this.set({ pool: p.pool, class: p.class, family: p.family, state: 'live' }, p.liveBlocks);
          this.set({ pool: p.pool, class: p.class, family: p.family, state: 'cooling' }, p.coolingBlocks);
        }
      },
    });
    const perKind = (name: string, help: string, pick: (i: IdentifierSample) => number): void => {
      new Gauge({
        name, help, labelNames: ['kind'], registers: r,
        async collect() { const v = await self.ipam(); this.reset(); for (const i of v?.identifiers ?? []) this.set({ kind: i.kind }, pick(i)); },
      });
    };
    perKind('visp_ipam_identifiers', 'Identifiers in the configured ranges, by kind (greKey, vni, groupId).', (i) => i.size);
    perKind('visp_ipam_identifiers_free', 'Identifiers left to allocate, by kind (neither live nor cooling).', (i) => i.free);
  }

  /** What the views read; until then they have no series. */
  attach(sources: ControllerSources): void { this.sources = sources; }

  /** An API call ended (or a stream was set up or refused). */
  call(method: string, code: string, seconds?: number): void {
    this.calls.inc({ method, code });
    if (seconds !== undefined) this.latency.observe({ method }, seconds);
  }

  scrape(): Promise<string> { return this.registry.metrics(); }

  /** IPAM's figures, at most IPAM_MAX_AGE_MS old; one read at a time however many gauges ask. Undefined if the read failed. */
  private async ipam(): Promise<Awaited<ReturnType<ControllerSources['ipam']>> | undefined> {
    if (!this.sources) return undefined;
    if (this.ipamLast && this.now() - this.ipamLast.at < IPAM_MAX_AGE_MS) return this.ipamLast.value;
    this.ipamReading ??= this.sources.ipam().then((value) => { this.ipamLast = { at: this.now(), value }; return value; }).finally(() => { this.ipamReading = undefined; });
    return this.ipamReading.catch(() => this.ipamLast?.value);
  }
}
