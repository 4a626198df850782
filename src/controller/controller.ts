// The controller: turns requests into desired state per node, keeps it in
// the store, fans it out to agents, aggregates what they report. It never
// touches a kernel. This class is its face (what the API layer and tests
// call) and its lifecycle (start, stop); the work is in its parts, one job
// each, sharing the controller's memory (state.ts):
//   slice-verbs.ts   the GENI verbs on a slice, Plan; every mutation on the slice's queue
//   agents.ts        agent sessions: registration, reports, desired state pushed to each node
//   egress-nodes.ts  egress nodes' configuration and their speakers' reports
//   views.ts         what ListResources and the operator see
//   persist.ts       the records in the store, and their revisions
//   sweeper.ts       expiry (on the elected leader when several controllers share etcd)
//   follow.ts        what other controllers on the same store changed
import { EventEmitter } from 'node:events';
import { InvalidSpecError } from '../errors.js';
import { createIpam, type Ipam } from '../ipam/index.js';
import type { Clock } from '../ipam/clock.js';
import type { IpamConfigSpec } from '../ipam/types.js';
import { BITS, parsePrefix } from '../ipam/prefix.js';
import type { ControllerSources } from '../metrics/controller.js';
import { fencedStore, soleLeadership, type Leadership } from '../store/leadership.js';
import type { Store, Watchable } from '../store/types.js';
import { TUNNEL_KINDS, type TunnelKind } from '../tunnel/types.js';
import type { AgentSession, DesiredState } from './agent-session.js';
import { AgentHub, type AgentReport, type Registration } from './agents.js';
import { EgressNodes, type EgressNodeView } from './egress-nodes.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import type { EgressConfig, Manifest, NodeRecord, OperationalAction, SliceRecord, SliceRequest, Topology } from './model.js';
import { Follower } from './follow.js';
import { SharedReports, STALE_MS } from './observed.js';
import { Records } from './persist.js';
import { KeyedQueue } from './queue.js';
import { ALL, type Scope } from './scope.js';
import { SliceVerbs, type PlanResult, type Scheduled } from './slice-verbs.js';
import type { PropertiesChange } from './shaping.js';
import { ControllerState, type ControllerEvent } from './state.js';
import type { endpointState } from './status.js';
import { Sweeper } from './sweeper.js';
import { Scheduler } from './schedule.js';
import { listNodes, listResources, listSlices, listTunnels, type ResourceView, type TunnelFilter, type TunnelView } from './views.js';

export type { AgentSession, DesiredState, PlanReply, Teardown } from './agent-session.js';
export type { ControllerEvent } from './state.js';
export type { Scope } from './scope.js';
export type { TunnelView } from './views.js';
export type { EgressNodeView } from './egress-nodes.js';

export interface ControllerOptions {
  store: Store;
  clock?: Clock;
  /** Applied when given, or when the store has no IPAM configuration yet. */
  ipam?: IpamConfigSpec;
  defaultIpam?: IpamConfigSpec;
  sweepIntervalMs?: number;
  limits?: Partial<Limits>;
  version?: string;
  /** Who does the duties that must not run twice (expiry); default: this controller alone. */
  leadership?: Leadership;
  /** Other controllers write the store too: follow their changes (follow.ts), share agents' reports (observed.ts). */
  watch?: Watchable;
  /** This controller among several (the name its shared reports carry). */
  identity?: string;
}

export class Controller extends EventEmitter<{ event: [ControllerEvent] }> {
  readonly version: string;
  private readonly store: Store;
  private readonly ipam: Ipam;
  private readonly clock: Clock;
  private readonly opts: ControllerOptions;
  private readonly state: ControllerState;
  /** The slice records (state.slices; tests look here). */
  private readonly slices: Map<string, SliceRecord>;
  private readonly records: Records;
  private readonly verbs: SliceVerbs;
  private readonly agents: AgentHub;
  private readonly egress: EgressNodes;
  private readonly sweeper: Sweeper;
  private readonly scheduler: Scheduler;
  private readonly follower: Follower | undefined;
  private readonly shared: SharedReports | undefined;

  constructor(opts: ControllerOptions) {
    super();
    this.opts = opts;
    // Commits made in a leader's duty carry its fence (store/leadership.ts).
    this.store = fencedStore(opts.store);
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.ipam = createIpam({ store: this.store, clock: this.clock });
    this.version = opts.version ?? 'visp 0.1.0';
    const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.state = new ControllerState(this.clock);
    this.slices = this.state.slices;
    this.records = new Records(this.store);
    const queue = new KeyedQueue();
    const emit = this.emitEvent.bind(this);
    const common = { state: this.state, records: this.records, queue, emit };
    this.agents = new AgentHub({ ...common, clock: this.clock });
    this.egress = new EgressNodes({ ...common, push: (node) => this.agents.push(node) });
    this.verbs = new SliceVerbs({ ...common, ipam: this.ipam, store: this.store, clock: this.clock, limits, push: (nodes) => this.agents.pushAll(nodes), rearm: () => this.scheduler.arm() });
    const leadership = opts.leadership ?? soleLeadership('duties');
    this.scheduler = new Scheduler({ slices: this.slices, clock: this.clock, emit, run: (slice, now) => this.verbs.runScheduled(slice, now), leadership });
    this.sweeper = new Sweeper({ slices: this.slices, queue, clock: this.clock, ipam: this.ipam, emit, expire: (s) => this.verbs.tearDown(s, 'expired'), leadership });
    this.shared = opts.watch ? new SharedReports({ ...common, clock: this.clock, identity: opts.identity ?? `controller-${process.pid}` }) : undefined;
    this.follower = this.shared ? new Follower({ ...common, shared: this.shared, push: (nodes) => this.agents.pushAll(nodes), rearm: () => this.scheduler.arm() }, this.store, opts.watch!) : undefined;
    if (this.shared) this.state.remoteFreshMs = STALE_MS;
  }

  async start(): Promise<void> {
    const loaded = await this.records.load();
    this.follower?.start(loaded.revision);
    this.shared?.start();
    for (const c of loaded.egress) this.state.egress.set(c.node, c);
    for (const s of loaded.slices) { this.slices.set(s.slice, s); this.state.sawGeneration(s.generation); }
    for (const n of loaded.nodes) this.state.nodes.set(n.name, n);
    for (const { node, teardown } of loaded.teardowns) this.state.teardownsOf(node).set(teardown.slice, teardown);
    if (this.opts.ipam) await this.ipam.configure(this.opts.ipam);
    else if (!(await this.ipam.getConfig()) && this.opts.defaultIpam) await this.ipam.configure(this.opts.defaultIpam);
    this.state.ipamConfig = await this.ipam.getConfig();
    if (!this.state.ipamConfig) {
      // Outside lab mode there is no safe default: documentation ranges handed
      // to real experiments would be reachable by nobody.
      throw new InvalidSpecError('pools: no address pools are configured; give them in the controller\'s config (pools: or pools_file:, docs/config.md) or with --pools FILE (lab mode: --lab uses documentation-range lab pools)', { field: 'pools' });
    }
    this.sweeper.start(this.opts.sweepIntervalMs ?? 1000);
    this.scheduler.start();
  }

  stop(): void {
    this.sweeper.stop();
    this.scheduler.stop();
    this.follower?.stop();
    this.shared?.stop();
  }

  // ---- GENI AM API v3 verbs (slice-verbs.ts) -----------------------------------

  getVersion(): { software: string; encapsulations: TunnelKind[] } {
    return { software: this.version, encapsulations: [...TUNNEL_KINDS] };
  }

  listResources(): ResourceView[] { return listResources(this.state); }

  /** `signal`: the caller going away stops the work at the next safe point before the commit (CancelledError), never after it. */
  allocate(req: SliceRequest, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> { return this.verbs.allocate(req, scope, opts); }
  provision(slice: string, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> { return this.verbs.provision(slice, scope, opts); }
  status(slice: string, scope: Scope = ALL): Promise<Manifest> { return this.verbs.status(slice, scope); }
  describe(slice: string, scope: Scope = ALL): Promise<Manifest> { return this.verbs.status(slice, scope); }
  /** Describe, with the topology the slice was allocated from (for a manifest RSpec, src/rspec/manifest.ts). */
  describeRequest(slice: string, scope: Scope = ALL): Promise<{ manifest: Manifest; request: Topology }> { return this.verbs.describeRequest(slice, scope); }
  renew(slice: string, endTime: string, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> { return this.verbs.renew(slice, endTime, scope, opts); }
  /** `opts.at`: later, as a scheduled change (docs/links.md, "At a given time"). */
  performAction(slice: string, slivers: string[], action: OperationalAction, scope: Scope = ALL, opts: { signal?: AbortSignal; at?: string } = {}): Promise<Scheduled> { return this.verbs.performAction(slice, slivers, action, scope, opts); }
  delete(slice: string, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> { return this.verbs.delete(slice, scope, opts); }
  /** Emergency stop: everything of the slice comes down at once; the record stays for Describe until Delete. */
  shutdown(slice: string, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> { return this.verbs.shutdown(slice, scope, opts); }
  /** A link's properties changed at run time, in place (docs/links.md). */
  setLinkProperties(slice: string, change: PropertiesChange, scope: Scope = ALL, opts: { signal?: AbortSignal; at?: string } = {}): Promise<Scheduled> { return this.verbs.setLinkProperties(slice, change, scope, opts); }
  /** A change scheduled for later, taken back. */
  cancelScheduled(slice: string, id: string, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> { return this.verbs.cancelScheduled(slice, id, scope, opts); }
  /** Makes the scheduled changes due now (the timer does this; tests with a manual clock call it). */
  runScheduled(): Promise<void> { return this.scheduler.runDue(); }
  /** The exact per-node changes a request would make, without making them. */
  plan(req: SliceRequest, opts: { signal?: AbortSignal } = {}): Promise<PlanResult> { return this.verbs.plan(req, opts); }
  /** Endpoint-level state, for tests and tools. */
  endpointState(slice: string, link: string, node: string): ReturnType<typeof endpointState> { return this.verbs.endpointState(slice, link, node); }

  // ---- operator (views.ts) --------------------------------------------------------

  listNodes(): Array<NodeRecord & { connected: boolean; endpoints: number }> { return listNodes(this.state); }
  listSlices(): Promise<Manifest[]> { return listSlices(this.state); }
  listTunnels(f: TunnelFilter = {}): Promise<TunnelView[]> { return listTunnels(this.state, f); }

  // ---- BGP egress (egress-nodes.ts) --------------------------------------------------

  /** Configure (or reconfigure) an egress node: its ASN, router id, providers. */
  setEgressNode(c: EgressConfig): Promise<EgressConfig> { return this.egress.set(c); }
  /** Stop egress on a node; refused while a slice still egresses through it. */
  removeEgressNode(node: string): Promise<void> { return this.egress.remove(node); }
  /** Egress nodes with their configuration and what their speakers last reported. */
  listBgp(node?: string): EgressNodeView[] { return this.egress.list(node); }

  // ---- agents (agents.ts) ------------------------------------------------------------

  /** An agent registered (one per node: see AgentHub.connected); its desired state follows. */
  agentConnected(reg: Registration, session: AgentSession): Promise<void> { return this.agents.connected(reg, session); }
  agentDisconnected(node: string, session: AgentSession): void { this.agents.disconnected(node, session); }

  async agentReport(node: string, r: AgentReport): Promise<void> {
    this.egress.noteReport(node, r.egress);
    await this.agents.report(node, r);
    this.shared?.share(node);
  }

  desiredState(node: string): DesiredState { return this.agents.desiredState(node); }

  // ---- metrics (src/metrics/controller.ts) ----------------------------------------------

  /** What the controller's metrics read: counts it keeps, and IPAM's figures (on IPAM's queue, like a mutation). */
  metricsSources(): ControllerSources {
    return {
      nodes: () => ({ known: this.state.nodes.size, connected: this.state.sessions.size }),
      slices: () => this.slices.size,
      ipam: async () => {
        const [pools, identifiers] = await Promise.all([this.ipam.usage(), this.ipam.identifierUsage()]);
        return {
          pools: pools.map((u) => {
            const p = parsePrefix(u.prefix, 'pool');
            return { pool: u.pool, class: u.class, family: u.family, size: 2 ** (BITS[p.family] - p.length), free: Number(u.freeAddresses), liveBlocks: u.liveBlocks, coolingBlocks: u.coolingBlocks };
          }),
          identifiers,
        };
      },
    };
  }

  private emitEvent(kind: string, e: Omit<ControllerEvent, 'time' | 'kind'>): void {
    this.emit('event', { time: this.clock.now(), kind, ...e });
  }
}
