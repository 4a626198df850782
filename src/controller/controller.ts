// The controller: turns requests into desired state per node, keeps it in
// the store, fans it out to agents, aggregates what they report. It never
// touches a kernel. Every mutation of a slice runs on that slice's queue.
import { EventEmitter } from 'node:events';
import { AlreadyExistsError, IncompatibleStateError, InvalidSpecError, LimitExceededError, NotFoundError, UnavailableError } from '../errors.js';
import { createIpam, type Also, type Ipam } from '../ipam/index.js';
import { IPAM_PREFIX } from '../ipam/records.js';
import type { Clock } from '../ipam/clock.js';
import type { IpamConfigSpec, SliceAllocation } from '../ipam/types.js';
import { createMemoryStore } from '../store/memory-store.js';
import type { Op, Store } from '../store/types.js';
import { TUNNEL_KINDS, type TunnelKind } from '../tunnel/types.js';
import type { EgressDesired, EgressStatus } from '../bgp/desired.js';
import { endpointCount, endpointsFor, endpointsForPaced, namespacesOn, nodesOf, type DesiredEndpoint } from './desired.js';
import { egressDesiredFor, maxLengthFor, validateEgressConfig } from './egress.js';
import type { EgressConfig, LinkRecord, Manifest, NodeRecord, OperationalAction, SliceRecord, SliceRequest, Topology } from './model.js';
import { sliverId } from './model.js';
import { checkUnderlayMtus, inTopologyTerms, ipamRequestPaced, linkRecordsPaced, placeLinksPaced, type PlacementNode } from './place.js';
import { KeyedQueue } from './queue.js';
import { checkNamespaces } from './namespaces.js';
import { CHUNKS_PREFIX, readSlices, sliceEntries, SLICES_PREFIX } from './slice-records.js';
import { addressCount, checkRequestLimits, DEFAULT_LIMITS, LIMIT_NAMES, type Limits } from './limits.js';
import { endpointState, manifestPaced, type EndpointReport, type NodeReport } from './status.js';
import { Pacer } from '../ipam/pacer.js';
import { throwIfCancelled } from '../errors.js';
import { checkSliceId, ID, parseEndTime, validateRequest } from './validate.js';
import { withLinkProperties, type PropertiesChange } from './shaping.js';
import { admit, reservedBy, sum, type Reserved, type Use } from './admission.js';
import { describeProperties } from '../shape/properties.js';

/** Puts (a value) and deletes (undefined) of the controller's records. */
type Entries = ReadonlyArray<readonly [string, unknown]>;

export interface Teardown { slice: string; group: number; namespaces: string[] }
export interface DesiredState { generation: number; endpoints: DesiredEndpoint[]; teardowns: Teardown[]; egress?: EgressDesired }
export interface PlanReply { endpoints: Array<{ slice: string; link: string; steps: string[]; error?: string }> }

/** The transport's side of one connected agent (the API layer implements it). */
export interface AgentSession {
  /** Where the agent connects from (logs, events, refusals). */
  readonly peer: string;
  send(state: DesiredState): void;
  plan(endpoints: DesiredEndpoint[]): Promise<PlanReply>;
  /** Ends the stream, telling the agent why. */
  close(reason: string): void;
  /** send(), encoding a big state in stretches that give other callers turns (the controller uses it for big states). */
  sendPaced?(state: DesiredState, pace: Pacer): Promise<void>;
}

/** How long a connected agent has to answer before a second connection for its node may replace it. */
const LIVENESS_MS = 3000;
/** A node's desired state with at least this many endpoints is built and sent in paced stretches. */
const PACED_PUSH_FROM = 500;

export interface ControllerEvent {
  time: number;
  kind: string;
  slice?: string;
  link?: string;
  node?: string;
  state?: string;
  message: string;
}

/**
 * What a caller may see, decided at the API edge from its certificate:
 * `owner` set (an aggregate manager) = only the slices it allocated, and a
 * slice of another owner is NOT_FOUND exactly like one that does not exist;
 * unset (an operator) = every slice.
 */
export interface Scope { owner?: string }
const ALL: Scope = {};

export interface ControllerOptions {
  store: Store;
  clock?: Clock;
  /** Applied when given, or when the store has no IPAM configuration yet. */
  ipam?: IpamConfigSpec;
  defaultIpam?: IpamConfigSpec;
  sweepIntervalMs?: number;
  limits?: Partial<Limits>;
  version?: string;
}

export interface TunnelView {
  slice: string; link: string; node: string; kind: TunnelKind; key: number; local: string; remotes: string[];
  bridge?: string; devices: string[]; netns: string; ifname: string; addresses: string[];
  state: string; error?: string; rxPackets: number; txPackets: number; rxBytes: number; txBytes: number; dataplane?: string;
}

const K = {
  node: (n: string) => `visp/nodes/${n}`, teardown: (n: string, s: string) => `visp/teardowns/${n}/${s}`,
  egress: (n: string) => `visp/egress/${n}`,
};

export interface EgressNodeView { node: string; connected: boolean; config: EgressConfig; status?: EgressStatus }

export class Controller extends EventEmitter<{ event: [ControllerEvent] }> {
  readonly version: string;
  private readonly store: Store;
  private readonly ipam: Ipam;
  private readonly clock: Clock;
  private readonly opts: ControllerOptions;
  private readonly slices = new Map<string, SliceRecord>();
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly teardowns = new Map<string, Map<string, Teardown>>();
  private readonly revs = new Map<string, number>();
  private readonly sessions = new Map<string, AgentSession>();
  private readonly reports = new Map<string, NodeReport>();
  private readonly egress = new Map<string, EgressConfig>();
  private readonly egressReports = new Map<string, EgressStatus>();
  private ipamConfig: IpamConfigSpec | undefined;
  private readonly queue = new KeyedQueue();
  private readonly limits: Limits;
  private readonly pendingByOwner = new Map<string, number>();
  /** Guaranteed capacity being admitted (slice → what it reserves), until its commit makes it part of `slices`. */
  private readonly admitting = new Map<string, Reserved>();
  /** Per node, the namespaces its agent says no slice may use (its own, and every one visp did not create). */
  private readonly reservedNs = new Map<string, string[]>();
  private gen = 0;
  /** Per node, the paced push in flight, and whether another is due after it. */
  private readonly pushing = new Map<string, { again: boolean }>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(opts: ControllerOptions) {
    super();
    this.opts = opts;
    this.store = opts.store;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.ipam = createIpam({ store: opts.store, clock: this.clock });
    this.version = opts.version ?? 'visp 0.1.0';
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
  }

  async start(): Promise<void> {
    const snap = await this.store.read([{ prefix: SLICES_PREFIX }, { prefix: 'visp/nodes/' }, { prefix: 'visp/teardowns/' }, { prefix: 'visp/egress/' }, { prefix: CHUNKS_PREFIX }]);
    for (const e of snap.results[3]!) { const c = JSON.parse(e.value) as EgressConfig; this.egress.set(c.node, c); this.revs.set(e.key, e.modRevision); }
    for (const s of readSlices(snap.results[0]!, snap.results[4]!)) { this.slices.set(s.slice, s); this.gen = Math.max(this.gen, s.generation); }
    for (const e of [...snap.results[0]!, ...snap.results[4]!]) this.revs.set(e.key, e.modRevision);
    for (const e of snap.results[1]!) { const n = JSON.parse(e.value) as NodeRecord; this.nodes.set(n.name, n); this.revs.set(e.key, e.modRevision); }
    for (const e of snap.results[2]!) {
      const [, , node] = e.key.split('/');
      const t = JSON.parse(e.value) as Teardown;
      this.teardownsOf(node!).set(t.slice, t);
      this.revs.set(e.key, e.modRevision);
    }
    if (this.opts.ipam) await this.ipam.configure(this.opts.ipam);
    else if (!(await this.ipam.getConfig()) && this.opts.defaultIpam) await this.ipam.configure(this.opts.defaultIpam);
    this.ipamConfig = await this.ipam.getConfig();
    if (!this.ipamConfig) {
      // Outside lab mode there is no safe default: documentation ranges handed
      // to real experiments would be reachable by nobody.
      throw new InvalidSpecError('pools: no address pools are configured; give them in the controller\'s config (pools: or pools_file:, docs/config.md) or with --pools FILE (lab mode: --lab uses documentation-range lab pools)', { field: 'pools' });
    }
    const every = this.opts.sweepIntervalMs ?? 1000;
    this.sweeper = setInterval(() => { this.sweep().catch((e: Error) => this.emitEvent('error', { message: `sweep: ${e.message}` })); }, every);
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  // ---- GENI AM API v3 verbs ---------------------------------------------------

  getVersion(): { software: string; encapsulations: TunnelKind[] } {
    return { software: this.version, encapsulations: [...TUNNEL_KINDS] };
  }

  listResources(): Array<{ name: string; connected: boolean; underlay: string[]; encapsulations: TunnelKind[]; shapers: NonNullable<NodeRecord['shapers']>; capacity: number; available: Use }> {
    const reserved = this.reservedExcept(undefined);
    return [...this.nodes.values()].sort((a, b) => a.name.localeCompare(b.name)).map((n) => {
      const cap = n.underlayCapacity ?? 0;
      const r = reserved.get(n.name) ?? { send: 0, receive: 0 };
      return {
        name: n.name, connected: this.sessions.has(n.name), underlay: n.underlay,
        encapsulations: n.capabilities.filter((c) => c.supported).map((c) => c.kind), shapers: n.shapers ?? [],
        capacity: cap, available: { send: Math.max(0, cap - r.send), receive: Math.max(0, cap - r.receive) },
      };
    });
  }

  /** Underlay capacity reserved by guaranteed links of every slice but `except`, committed or being admitted (admission.ts). */
  private reservedExcept(except: string | undefined): Reserved {
    const committed = reservedBy([...this.slices.values()].filter((s) => s.slice !== except && s.state !== 'shutdown').flatMap((s) => s.links));
    return sum(committed, ...[...this.admitting].filter(([k]) => k !== except).map(([, r]) => r));
  }

  /** `signal`: the caller going away stops the work at the next safe point before the commit (CancelledError), never after it. */
  allocate(req: SliceRequest, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> {
    checkRequestLimits(req.topology, this.limits);
    const now = this.clock.now();
    const endTime = validateRequest(req, now);
    return this.queue.run(`slice/${req.slice}`, async () => {
      throwIfCancelled(opts.signal); // gone while waiting its turn: start nothing
      this.checkFree(req.slice, scope);
      const release = this.holdTenantSlot(scope);
      try {
        return await this.allocateFree(req, endTime, scope, opts.signal);
      } finally {
        release();
      }
    });
  }

  private async allocateFree(req: SliceRequest, endTime: number, scope: Scope, signal?: AbortSignal): Promise<Manifest> {
      // A big request is placed and answered in stretches of a few ms: other callers get turns meanwhile,
      // and a caller that went away stops between two of them.
      const pace = new Pacer(signal);
      const placed = await placeLinksPaced(req.slice, req.topology, this.nodes, (n) => this.sessions.has(n), new Set(this.egress.keys()), pace);
      checkNamespaces(req.slice, req.topology, placed, this.slices.values(), this.reservedNs);
      // The allocation and the slice record are one commit: a crash leaves both or neither. The
      // record is built (and the AM's address limit checked) from each attempt's allocation, and
      // enters `slices` in the commit's own turn: the IPAM's sweeper keeps what `slices` has.
      let built: SliceRecord | undefined;
      const also = this.also(async (a: SliceAllocation) => {
        built = { ...this.record(req.slice, req.topology, endTime, a, await linkRecordsPaced(placed, a, pace)), ...(scope.owner ? { owner: scope.owner } : {}) };
        this.checkTenantAddresses(built, scope);
        // Guaranteed capacity: admitted here, in the IPAM's serial turn, and held until the commit puts the slice in `slices`.
        this.admitting.set(req.slice, admit(built.links, this.reservedExcept(req.slice), this.nodes, (i) => `topology.links[${i}].guaranteed`));
        return sliceEntries(built, undefined, pace);
      }, () => this.slices.set(built!.slice, built!), pace);
      const spec = await ipamRequestPaced(req.slice, placed, pace);
      try {
        await this.ipam.allocate(spec, { also, signal }).catch((e: unknown) => { throw inTopologyTerms(e); });
      } finally {
        this.admitting.delete(req.slice);
      }
      const rec = built!;
      this.emitEvent('allocated', { slice: rec.slice, message: `${rec.links.length} links, blocks ${rec.blocks.map((b) => b.prefix).join(', ')}` });
      // Committed: the answer is built whether or not the caller is still there (an Allocate that
      // allocated is never reported, nor audited, as cancelled).
      return manifestPaced(rec, (n) => this.sessions.has(n), (n) => this.reports.get(n), new Pacer());
  }

  /** A slice name the caller may allocate: free, or else a refusal that names no other tenant. */
  private checkFree(slice: string, scope: Scope): void {
    const s = this.slices.get(slice);
    if (!s) return;
    if (this.visible(s, scope)) throw new AlreadyExistsError(`slice: "${slice}" already has an allocation; Delete it first`, { field: 'slice' });
    throw new AlreadyExistsError(`slice: the name "${slice}" is taken; choose another`, { field: 'slice' });
  }

  /** limits.slices_per_am, counting allocations in flight so that concurrent Allocates cannot overshoot. */
  private holdTenantSlot(scope: Scope): () => void {
    const owner = scope.owner;
    if (!owner) return () => undefined;
    const pending = this.pendingByOwner.get(owner) ?? 0;
    const held = [...this.slices.values()].filter((s) => s.owner === owner).length + pending;
    if (held >= this.limits.slicesPerAm) throw new LimitExceededError(LIMIT_NAMES.slicesPerAm, `this AM holds ${held} slices, the limit is ${this.limits.slicesPerAm}`);
    this.pendingByOwner.set(owner, pending + 1);
    return () => {
      const n = (this.pendingByOwner.get(owner) ?? 1) - 1;
      if (n > 0) this.pendingByOwner.set(owner, n); else this.pendingByOwner.delete(owner);
    };
  }

  /** limits.addresses_per_am, with this allocation's blocks counted. */
  private checkTenantAddresses(rec: SliceRecord, scope: Scope): void {
    if (!scope.owner) return;
    const mine = [...this.slices.values()].filter((s) => s.owner === scope.owner && s.state !== 'shutdown').flatMap((s) => s.blocks);
    const total = addressCount(mine) + addressCount(rec.blocks);
    if (total > this.limits.addressesPerAm) {
      throw new LimitExceededError(LIMIT_NAMES.addressesPerAm, `this allocation would bring the AM's addresses to ${total}, the limit is ${this.limits.addressesPerAm}`);
    }
  }

  provision(slice: string, scope: Scope = ALL): Promise<Manifest> {
    checkSliceId(slice);
    return this.queue.run(`slice/${slice}`, async () => {
      const s = this.get(slice, scope);
      if (s.state === 'shutdown') throw new IncompatibleStateError(`slice: "${slice}" was shut down; Delete it and allocate again`, { field: 'slice' });
      if (s.state === 'provisioned') return this.view(s);
      const next: SliceRecord = { ...s, state: 'provisioned', generation: this.bump() };
      delete next.expiresAt;
      // The IPAM's mark and the slice record are one commit.
      await this.ipam.markProvisioned(slice, { also: this.also(() => sliceEntries(next, s, new Pacer())) });
      this.slices.set(slice, next);
      this.emitEvent('provisioned', { slice, message: `provisioning on ${nodesOf(next).join(', ')}` });
      this.pushAll(nodesOf(next));
      return this.view(next);
    });
  }

  async status(slice: string, scope: Scope = ALL): Promise<Manifest> { checkSliceId(slice); return this.view(this.get(slice, scope)); }
  describe(slice: string, scope: Scope = ALL): Promise<Manifest> { return this.status(slice, scope); }

  renew(slice: string, endTime: string, scope: Scope = ALL): Promise<Manifest> {
    checkSliceId(slice);
    if (!endTime) throw new InvalidSpecError('end_time: is required', { field: 'end_time' });
    const t = parseEndTime(endTime, this.clock.now());
    return this.queue.run(`slice/${slice}`, async () => {
      const s = this.get(slice, scope);
      if (s.state === 'shutdown') throw new IncompatibleStateError(`slice: "${slice}" was shut down`, { field: 'slice' });
      const next = { ...s, endTime: t };
      await this.commitSlice(next);
      this.emitEvent('renewed', { slice, message: `until ${new Date(t).toISOString()}` });
      return this.view(next);
    });
  }

  performAction(slice: string, slivers: string[], action: OperationalAction, scope: Scope = ALL): Promise<Manifest> {
    checkSliceId(slice);
    return this.queue.run(`slice/${slice}`, async () => {
      const s = this.get(slice, scope);
      if (s.state !== 'provisioned') throw new IncompatibleStateError(`slice: "${slice}" is ${s.state === 'allocated' ? 'not provisioned yet' : 'shut down'}; operational actions need a provisioned slice`, { field: 'slice' });
      const ids = new Set(s.links.map((l) => sliverId(slice, l.id)));
      slivers.forEach((id, i) => { if (!ids.has(id)) throw new NotFoundError(`slivers[${i}]: no sliver "${id}" in slice "${slice}"`, { field: `slivers[${i}]` }); });
      const chosen = new Set(slivers.length ? slivers : [...ids]);
      const links = s.links.map((l) => {
        if (!chosen.has(sliverId(slice, l.id))) return l;
        if (action === 'start') return { ...l, stopped: false };
        if (action === 'stop') return { ...l, stopped: true };
        return { ...l, restart: l.restart + 1 };
      });
      const next = { ...s, links, generation: this.bump() };
      await this.commitSlice(next);
      this.emitEvent('action', { slice, message: `${action} ${[...chosen].join(', ')}` });
      this.pushAll(nodesOf(next));
      return this.view(next);
    });
  }

  /** A link's properties changed at run time (docs/links.md): the record now, the shapers in place on the nodes next. */
  setLinkProperties(slice: string, change: PropertiesChange, scope: Scope = ALL): Promise<Manifest> {
    checkSliceId(slice);
    return this.queue.run(`slice/${slice}`, async () => {
      const s = this.get(slice, scope);
      if (s.state === 'shutdown') throw new IncompatibleStateError(`slice: "${slice}" was shut down`, { field: 'slice' });
      const next = { ...withLinkProperties(s, change, this.nodes, (n) => this.sessions.has(n)), generation: this.bump() };
      // A guaranteed link's new capacity is admitted against everything else reserved, held until committed.
      const changed = next.links.find((x) => x.id === change.link)!;
      if (changed.guaranteed) {
        const rest = reservedBy(next.links.filter((x) => x !== changed));
        this.admitting.set(slice, sum(rest, admit([changed], sum(this.reservedExcept(slice), rest), this.nodes, () => 'properties.capacity_bps')));
      }
      try {
        await this.commitSlice(next);
      } finally {
        if (changed.guaranteed) this.admitting.delete(slice);
      }
      const l = next.links.find((x) => x.id === change.link)!;
      this.emitEvent('properties', { slice, link: change.link, message: l.endpoints.map((e) => `${e.node}: ${describeProperties(e.properties)}`).join('; ') });
      if (next.state === 'provisioned') this.pushAll(nodesOf(next));
      return this.view(next);
    });
  }

  delete(slice: string, scope: Scope = ALL): Promise<Manifest> {
    checkSliceId(slice);
    return this.queue.run(`slice/${slice}`, async () => this.tearDown(this.get(slice, scope), 'deleted'));
  }

  /** Emergency stop: everything of the slice comes down at once; the record stays for Describe until Delete. */
  shutdown(slice: string, scope: Scope = ALL): Promise<Manifest> {
    checkSliceId(slice);
    return this.queue.run(`slice/${slice}`, async () => {
      const s = this.get(slice, scope);
      if (s.state === 'shutdown') return this.view(s);
      return this.tearDown(s, 'shutdown');
    });
  }

  // ---- operator --------------------------------------------------------------------

  listNodes(): Array<NodeRecord & { connected: boolean; endpoints: number }> {
    return [...this.nodes.values()].sort((a, b) => a.name.localeCompare(b.name))
      .map((n) => ({ ...n, connected: this.sessions.has(n.name), endpoints: endpointsFor(n.name, this.slices.values()).length }));
  }

  async listSlices(): Promise<Manifest[]> {
    const pace = new Pacer();
    const out: Manifest[] = [];
    for (const s of [...this.slices.values()].sort((a, b) => a.slice.localeCompare(b.slice))) out.push(await this.view(s, pace));
    return out;
  }

  async listTunnels(f: { node?: string; slice?: string; state?: string; sliver?: string } = {}): Promise<TunnelView[]> {
    const pace = new Pacer();
    const out: TunnelView[] = [];
    for (const s of [...this.slices.values()]) {
      if (f.slice && s.slice !== f.slice) continue;
      const m = await this.view(s, pace);
      for (const sl of m.slivers) {
        if (pace.due()) await pace.pause();
        if (f.sliver && sl.id !== f.sliver) continue;
        for (const e of sl.endpoints) {
          if (f.node && e.physicalNode !== f.node) continue;
          if (f.state && e.state !== f.state) continue;
          const er = this.reports.get(e.physicalNode)?.endpoints.get(`${s.slice}/${sl.link.id}`);
          out.push({
            slice: s.slice, link: sl.link.id, node: e.physicalNode, kind: sl.link.kind, key: sl.link.key, local: e.underlay, remotes: e.remotes,
            ...(e.bridge ? { bridge: e.bridge } : {}), devices: e.devices, netns: e.netns, ifname: e.ifname, addresses: e.addresses,
            state: e.state, ...(e.error ? { error: e.error } : {}),
            rxPackets: er?.rxPackets ?? 0, txPackets: er?.txPackets ?? 0, rxBytes: er?.rxBytes ?? 0, txBytes: er?.txBytes ?? 0,
            ...(er?.dataplane ? { dataplane: er.dataplane } : {}),
          });
        }
      }
    }
    return out;
  }

  // ---- BGP egress ----------------------------------------------------------------------

  /** Configure (or reconfigure) an egress node: its ASN, router id, providers. */
  setEgressNode(c: EgressConfig): Promise<EgressConfig> {
    validateEgressConfig(c);
    // A node that never registered is most likely a typo; its agent must have dialed in once.
    if (!this.nodes.has(c.node)) throw new NotFoundError(`config.node: no node "${c.node}" has registered; start its agent first (visp nodes lists them)`, { field: 'config.node' });
    return this.queue.run(`node/${c.node}`, async () => {
      await this.save(K.egress(c.node), c);
      this.egress.set(c.node, c);
      this.emitEvent('egress-configured', { node: c.node, message: `AS${c.asn} router id ${c.routerId}, providers ${c.providers.map((p) => `${p.address} (AS${p.asn})`).join(', ') || 'none'}` });
      this.push(c.node);
      return c;
    });
  }

  /** Stop egress on a node; refused while a slice still egresses through it. */
  removeEgressNode(node: string): Promise<void> {
    return this.queue.run(`node/${node}`, async () => {
      if (!this.egress.has(node)) throw new NotFoundError(`config.node: node ${node} has no egress configured`, { field: 'config.node' });
      const users = [...this.slices.values()].filter((s) => s.state !== 'shutdown' && s.links.some((l) => l.egress?.node === node)).map((s) => s.slice);
      if (users.length) throw new IncompatibleStateError(`config.node: slices ${users.join(', ')} egress through ${node}; delete them first`, { field: 'config.node' });
      await this.remove(K.egress(node));
      this.egress.delete(node);
      this.egressReports.delete(node);
      this.emitEvent('egress-removed', { node, message: 'egress stopped' });
      this.push(node);
    });
  }

  /** Egress nodes with their configuration and what their speakers last reported. */
  listBgp(node?: string): EgressNodeView[] {
    return [...this.egress.values()].filter((c) => !node || c.node === node).sort((a, b) => a.node.localeCompare(b.node)).map((c) => {
      const status = this.egressReports.get(c.node);
      return { node: c.node, connected: this.sessions.has(c.node), config: c, ...(status ? { status } : {}) };
    });
  }

  /** The exact per-node changes a request would make, without making them. */
  async plan(req: SliceRequest): Promise<{ manifest: Manifest; nodes: Array<{ node: string; steps: string[]; error?: string }> }> {
    checkRequestLimits(req.topology, this.limits);
    const now = this.clock.now();
    const endTime = validateRequest(req, now);
    if (this.slices.has(req.slice)) throw new AlreadyExistsError(`slice: "${req.slice}" already has an allocation`, { field: 'slice' });
    const pace = new Pacer();
    const placed = await placeLinksPaced(req.slice, req.topology, this.nodes, (n) => this.sessions.has(n), new Set(this.egress.keys()), pace);
    checkNamespaces(req.slice, req.topology, placed, this.slices.values(), this.reservedNs);
    // Allocate for real, but on a throwaway copy of the IPAM's keys: same
    // pools, same holdings, so the addresses and keys are exactly what
    // Allocate would give now — and nothing is reserved.
    const copy = createMemoryStore();
    const snap = await this.store.read([{ prefix: IPAM_PREFIX }]);
    const ops = snap.results[0]!.map((e) => ({ type: 'put' as const, key: e.key, value: e.value, expect: 0 }));
    if (ops.length) await copy.commit({ compares: [], ops });
    const a = await createIpam({ store: copy, clock: this.clock }).allocate(await ipamRequestPaced(req.slice, placed, pace)).catch((e: unknown) => { throw inTopologyTerms(e); });
    const rec: SliceRecord = { ...this.record(req.slice, req.topology, endTime, a, await linkRecordsPaced(placed, a, pace)), state: 'provisioned' };
    const nodes = await Promise.all(nodesOf(rec).map(async (node) => {
      const session = this.sessions.get(node);
      if (!session) return { node, steps: [], error: `node ${node} is not connected` };
      const reply = await session.plan(endpointsFor(node, [rec]));
      const errors = reply.endpoints.filter((e) => e.error).map((e) => `${e.link}: ${e.error}`);
      return { node, steps: reply.endpoints.flatMap((e) => e.steps.map((st) => `${e.link}: ${st}`)), ...(errors.length ? { error: errors.join('; ') } : {}) };
    }));
    await copy.close();
    return { manifest: await this.view({ ...rec, state: 'allocated' }, pace), nodes };
  }

  // ---- agents ------------------------------------------------------------------------

  /**
   * An agent registered: remember the node, then send its desired state.
   * One agent per node at a time, deliberately: while the connected agent
   * answers (a plan round trip within LIVENESS_MS), a second connection for
   * the same node is refused (ALREADY_EXISTS), so two agents never mix; when
   * it does not answer (its host died without closing the stream), the new
   * connection replaces it and the old stream is closed with the reason.
   * An underlay address that links on this node use may not disappear.
   */
  async agentConnected(reg: { node: string; underlay: string[]; capabilities: NodeRecord['capabilities']; reservedNamespaces?: string[]; underlayMtu?: Record<string, number>; shapers?: NodeRecord['shapers']; underlayCapacity?: number }, session: AgentSession): Promise<void> {
    if (!ID.test(reg.node)) throw new InvalidSpecError(`register.node: ${JSON.stringify(reg.node)} is not a node name`, { field: 'node' });
    let replaced: AgentSession | undefined;
    await this.queue.run(`node/${reg.node}`, async () => {
      const old = this.sessions.get(reg.node);
      if (old && old !== session) {
        if (await answers(old)) {
          throw new AlreadyExistsError(`register.node: node ${reg.node} already has a connected agent (from ${old.peer}) that answers; stop it before starting another`, { field: 'node' });
        }
        replaced = old;
      }
      const inUse = this.underlayInUse(reg.node).filter((a) => !reg.underlay.includes(a));
      if (inUse.length) {
        throw new IncompatibleStateError(`register.underlay_addresses: links on node ${reg.node} use ${inUse.join(', ')}, which this agent does not offer (${reg.underlay.join(', ') || 'none'}); restore the address or delete those slices`, { field: 'underlay_addresses' });
      }
      const rec: PlacementNode = { name: reg.node, underlay: reg.underlay, capabilities: reg.capabilities, ...(reg.shapers?.length ? { shapers: reg.shapers } : {}), ...(reg.underlayCapacity ? { underlayCapacity: reg.underlayCapacity } : {}), lastSeen: this.clock.now(), ...checkUnderlayMtus(reg.underlay, reg.underlayMtu) };
      await this.save(K.node(reg.node), rec);
      this.nodes.set(reg.node, rec);
      this.sessions.set(reg.node, session);
      this.reports.delete(reg.node);
      if (reg.reservedNamespaces) this.reservedNs.set(reg.node, reg.reservedNamespaces);
    });
    if (replaced) {
      replaced.close(`replaced by a new connection for node ${reg.node} from ${session.peer} (this one did not answer within ${LIVENESS_MS} ms)`);
      this.emitEvent('node-replaced', { node: reg.node, message: `the agent at ${replaced.peer} did not answer; ${session.peer} replaces it` });
    }
    this.emitEvent('node-connected', { node: reg.node, message: `underlay ${reg.underlay.join(', ')} from ${session.peer}` });
    this.push(reg.node);
  }

  /** Underlay addresses of `node` that links placed there use. */
  private underlayInUse(node: string): string[] {
    const used = new Set<string>();
    for (const s of this.slices.values()) {
      if (s.state === 'shutdown') continue;
      for (const l of s.links) for (const e of l.endpoints) if (e.physicalNode === node) used.add(e.underlay);
    }
    return [...used];
  }

  agentDisconnected(node: string, session: AgentSession): void {
    if (this.sessions.get(node) !== session) return; // a newer session replaced it
    this.sessions.delete(node);
    const n = this.nodes.get(node);
    if (n) n.lastSeen = this.clock.now();
    this.emitEvent('node-disconnected', { node, message: 'agent stream closed' });
  }

  async agentReport(node: string, r: { generation: number; endpoints: EndpointReport[]; repairs: string[]; tornDown: string[]; egress?: EgressStatus; reservedNamespaces?: string[] }): Promise<void> {
    if (r.reservedNamespaces) this.reservedNs.set(node, r.reservedNamespaces);
    const prev = this.reports.get(node);
    if (r.egress?.enabled) {
      const before = this.egressReports.get(node);
      for (const p of r.egress.peers) {
        const was = before?.peers.find((x) => x.address === p.address)?.state;
        if (was !== p.state) this.emitEvent('bgp-peer', { node, state: p.state, message: `${p.address} (AS${p.asn}) ${was ?? 'new'} → ${p.state}` });
      }
      this.egressReports.set(node, r.egress);
    } else this.egressReports.delete(node);
    const n = this.nodes.get(node);
    if (n) n.lastSeen = this.clock.now();
    // A big node's report (thousands of endpoints, each a possible state event) is taken in paced stretches;
    // the new report replaces the old one whole, once read.
    const pace = new Pacer();
    const byLink = new Map<string, EndpointReport>();
    await pace.each(r.endpoints, (e) => { byLink.set(`${e.slice}/${e.link}`, e); });
    this.reports.set(node, { generation: r.generation, endpoints: byLink, at: this.clock.now() });
    // Events after the report is in: a listener that reads Status sees what the event says.
    await pace.each(r.endpoints, (e) => {
      const before = prev?.endpoints.get(`${e.slice}/${e.link}`);
      if (before?.state !== e.state || before?.error !== e.error) {
        this.emitEvent('state', { slice: e.slice, link: e.link, node, state: e.state, message: e.error ?? e.state });
      }
    });
    for (const line of r.repairs) this.emitEvent('repair', { node, message: line, ...sliceOfRepair(line) });
    if (r.tornDown.length) {
      await this.queue.run(`node/${node}`, async () => {
        const mine = this.teardownsOf(node);
        const done = [...new Set(r.tornDown)].filter((slice) => mine.has(slice));
        await this.removeAll(done.map((slice) => K.teardown(node, slice)));
        for (const slice of done) mine.delete(slice);
      });
    }
  }

  desiredState(node: string): DesiredState {
    const c = this.egress.get(node);
    return {
      generation: this.gen, endpoints: endpointsFor(node, this.slices.values()), teardowns: [...this.teardownsOf(node).values()],
      ...(c ? { egress: egressDesiredFor(c, this.slices.values(), maxLengthFor(c, this.ipamConfig)) } : {}),
    };
  }

  // ---- internals ---------------------------------------------------------------------

  private record(slice: string, topology: Topology, endTime: number, a: SliceAllocation, links: LinkRecord[]): SliceRecord {
    return {
      slice, state: 'allocated', request: topology, endTime, allocatedAt: a.allocatedAt,
      ...(a.expiresAt !== undefined ? { expiresAt: a.expiresAt } : {}),
      groupId: a.groupId ?? 0,
      blocks: a.blocks.map((b) => ({ addressClass: b.class, prefix: b.prefix, pool: b.pool })),
      links,
      generation: this.bump(),
    };
  }

  /** The slice if the scope may see it; NOT_FOUND alike for absent and for another owner's. */
  private get(slice: string, scope: Scope = ALL): SliceRecord {
    const s = this.slices.get(slice);
    if (!s || !this.visible(s, scope)) throw new NotFoundError(`slice: no slice "${slice}"`, { field: 'slice' });
    return s;
  }

  private visible(s: SliceRecord, scope: Scope): boolean {
    return scope.owner === undefined || s.owner === scope.owner;
  }

  /**
   * A slice's manifest, built in paced stretches: a 10,000-link slice's is
   * about 100 ms of work, which must not hold the loop other callers share.
   */
  private view(s: SliceRecord, pace: Pacer = new Pacer()): Promise<Manifest> {
    return manifestPaced(s, (n) => this.sessions.has(n), (n) => this.reports.get(n), pace);
  }

  /** Endpoint-level state, for tests and tools. */
  endpointState(slice: string, link: string, node: string): ReturnType<typeof endpointState> {
    return endpointState(this.get(slice), link, node, this.sessions.has(node), this.reports.get(node));
  }

  /**
   * Takes a slice down in one store commit: the teardown record of every
   * member node, the release of its space, and its record (kept as shut down
   * for Describe until Delete, or gone). A crash leaves all of it or none.
   */
  private async tearDown(s: SliceRecord, kind: 'deleted' | 'shutdown' | 'expired'): Promise<Manifest> {
    const gone: SliceRecord = { ...s, state: 'shutdown', generation: this.bump() };
    const pace = new Pacer();
    const record = await sliceEntries(kind === 'shutdown' ? gone : undefined, s, pace);
    if (s.state === 'shutdown') await this.write(record); // released when it was shut down
    else {
      // Provisioned or not: an agent may have started building; tell every member node.
      const ts = nodesOf(s).map((node) => [node, { slice: s.slice, group: s.groupId, namespaces: namespacesOn(s, node) } satisfies Teardown] as const);
      await this.ipam.release(s.slice, { also: this.also(() => [...ts.map(([node, t]) => [K.teardown(node, s.slice), t] as const), ...record], undefined, pace) });
      for (const [node, t] of ts) this.teardownsOf(node).set(s.slice, t);
    }
    if (kind === 'shutdown') this.slices.set(s.slice, gone);
    else this.slices.delete(s.slice);
    this.pushAll(nodesOf(s));
    this.emitEvent(kind, { slice: s.slice, message: `teardown on ${nodesOf(s).join(', ')}` });
    return { ...(await this.view(gone, pace)), allocation: 'unallocated' };
  }

  /**
   * Slices past their end time, and allocations not provisioned in time, are
   * taken down here (tearDown: the release is in the same commit as the
   * records); the IPAM's own sweep then only releases allocations no slice
   * of ours has, and collects ended cooldowns.
   */
  private async sweep(): Promise<void> {
    const now = this.clock.now();
    const due = (s: SliceRecord): boolean => s.endTime <= now || (s.state === 'allocated' && s.expiresAt !== undefined && s.expiresAt <= now);
    for (const s of [...this.slices.values()]) {
      if (!due(s)) continue;
      await this.queue.run(`slice/${s.slice}`, async () => {
        const cur = this.slices.get(s.slice);
        if (cur && due(cur)) await this.tearDown(cur, 'expired');
      });
    }
    await this.ipam.sweep({ keep: (slice) => this.slices.has(slice) });
  }

  private bump(): number {
    this.gen = Math.max(this.gen + 1, this.clock.now());
    return this.gen;
  }

  private pushAll(nodes: readonly string[]): void { for (const n of nodes) this.push(n); }

  /**
   * Sends a node its desired state. A small one goes at once; a big one (a
   * node of a 10,000-link slice) is built and encoded in paced stretches.
   * One push per node at a time, in order: pushes asked for meanwhile become
   * one more, with the state as it is then (an agent only needs the latest).
   */
  private push(node: string): void {
    const session = this.sessions.get(node);
    if (!session) return;
    const running = this.pushing.get(node);
    if (running) { running.again = true; return; }
    if (!session.sendPaced || endpointCount(node, this.slices.values()) < PACED_PUSH_FROM) { session.send(this.desiredState(node)); return; }
    const run = { again: false };
    this.pushing.set(node, run);
    void (async () => {
      try {
        do {
          run.again = false;
          const s = this.sessions.get(node);
          if (!s) break;
          const pace = new Pacer();
          const state = await this.desiredStatePaced(node, pace);
          await (s.sendPaced ? s.sendPaced(state, pace) : s.send(state));
        } while (run.again);
      } catch (e) {
        this.emitEvent('error', { node, message: `desired state for ${node}: ${(e as Error).message}` });
      } finally {
        this.pushing.delete(node);
      }
    })();
  }

  private async desiredStatePaced(node: string, pace: Pacer): Promise<DesiredState> {
    const c = this.egress.get(node);
    const endpoints = await endpointsForPaced(node, this.slices.values(), pace);
    return {
      generation: this.gen, endpoints, teardowns: [...this.teardownsOf(node).values()],
      ...(c ? { egress: egressDesiredFor(c, this.slices.values(), maxLengthFor(c, this.ipamConfig)) } : {}),
    };
  }

  private teardownsOf(node: string): Map<string, Teardown> {
    let m = this.teardowns.get(node);
    if (!m) { m = new Map(); this.teardowns.set(node, m); }
    return m;
  }

  /** Writes a changed slice record: its header, and the link chunks that changed (slice-records.ts). */
  private async commitSlice(s: SliceRecord): Promise<void> {
    await this.write(await sliceEntries(s, this.slices.get(s.slice), new Pacer()));
    this.slices.set(s.slice, s);
  }

  private save(key: string, value: unknown): Promise<void> {
    return this.saveAll([[key, value]]);
  }

  /** Several puts in one transaction: all are written, or none. */
  private saveAll(entries: ReadonlyArray<readonly [string, unknown]>): Promise<void> {
    return this.write(entries);
  }

  private remove(key: string): Promise<void> {
    return this.removeAll([key]);
  }

  /** Several deletes in one transaction; keys never written are skipped. */
  private removeAll(keys: readonly string[]): Promise<void> {
    return this.write(keys.map((key) => [key, undefined]));
  }

  /** Puts (a value) and deletes (undefined) of records in one transaction of their own. */
  private async write(entries: ReadonlyArray<readonly [string, unknown]>): Promise<void> {
    const ops = await this.ops(entries);
    if (!ops.length) return;
    const r = await this.store.commit({ compares: [], ops });
    if (!r.ok) throw new UnavailableError(`store: ${r.conflicts.join(', ')} was changed by another writer; retry`);
    this.wrote(ops, r.revision);
  }

  /**
   * Records to write in an IPAM operation's own transaction (allocate,
   * markProvisioned, release), built from its result; `then` runs right after
   * that commit, in its turn. Why not an intent that start-up completes: the
   * store commits all or nothing already, so one commit leaves no half-done
   * verb to recover (see Also in src/ipam/op-context.ts).
   */
  private also<R>(entries: (result: R) => Entries | Promise<Entries>, then?: () => void, pace?: Pacer): Also<R> {
    let ops: Op[] = [];
    return {
      ops: async (result) => (ops = await this.ops(await entries(result), pace)),
      committed: (revision) => {
        this.wrote(ops, revision);
        then?.();
      },
    };
  }

  /**
   * Store ops for puts (a value) and deletes (undefined), each expecting the
   * revision `revs` holds; a key never written is not deleted. Serialized in
   * paced stretches (a big slice has dozens of link chunks).
   */
  private async ops(entries: Entries, pace: Pacer = new Pacer()): Promise<Op[]> {
    const out: Op[] = [];
    for (const [key, value] of entries) {
      if (pace.due()) await pace.pause();
      const expect = this.revs.get(key);
      if (value !== undefined) out.push({ type: 'put', key, value: JSON.stringify(value), expect: expect ?? 0 });
      else if (expect !== undefined) out.push({ type: 'delete', key, expect });
    }
    return out;
  }

  /** `revs` after the commit at `revision` that carried `ops`. */
  private wrote(ops: readonly Op[], revision: number): void {
    for (const o of ops) {
      if (o.type === 'put') this.revs.set(o.key, revision);
      else this.revs.delete(o.key);
    }
  }

  private emitEvent(kind: string, e: Omit<ControllerEvent, 'time' | 'kind'>): void {
    this.emit('event', { time: this.clock.now(), kind, ...e });
  }
}

/** Whether a session answers a no-op plan in time. */
async function answers(s: AgentSession): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), LIVENESS_MS); });
  try {
    return await Promise.race([s.plan([]).then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Repairs are reported as "slice/link: what was done (now <state>)". */
function sliceOfRepair(line: string): { slice?: string; link?: string; state?: string } {
  const m = /^([^/\s]+)\/([^:\s]+): /.exec(line);
  // The agent ends each line with the state the repair left: "(now ready)".
  const state = / \(now (ready|failed|stopped|configuring)\)$/.exec(line)?.[1];
  return { ...(m ? { slice: m[1]!, link: m[2]! } : {}), ...(state ? { state } : {}) };
}
