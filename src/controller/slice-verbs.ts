// The GENI AM API v3 verbs on a slice (Allocate, Provision, Status, Renew,
// PerformOperationalAction, Delete, Shutdown) and Plan, Allocate's dry run.
// Every mutation of a slice runs on that slice's queue; an IPAM change and
// the slice's records are one store commit (persist.ts `also`); big slices
// are placed, recorded and answered in paced stretches; a caller sees only
// the slices its scope allows (scope.ts).
import { AlreadyExistsError, IncompatibleStateError, InvalidSpecError, NotFoundError, PoolExhaustedError, throwIfCancelled } from '../errors.js';
import type { Clock } from '../ipam/clock.js';
import { createIpam, type Ipam } from '../ipam/index.js';
import { Pacer } from '../ipam/pacer.js';
import { IPAM_PREFIX } from '../ipam/records.js';
import type { SliceAllocation } from '../ipam/types.js';
import { createMemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/types.js';
import type { Teardown } from './agent-session.js';
import { endpointsFor, namespacesOn, nodesOf } from './desired.js';
import { checkRequestLimits, type Limits } from './limits.js';
import type { LinkRecord, Manifest, OperationalAction, PropertiesChange, ScheduledChange, SliceRecord, SliceRequest, Topology } from './model.js';
import { sliverId } from './model.js';
import { checkNamespaces } from './namespaces.js';
import { KEYS, type Records } from './persist.js';
import { inTopologyTerms, ipamRequestPaced, linkRecordsPaced, placeLinksPaced } from './place.js';
import type { KeyedQueue } from './queue.js';
import { ALL, visible, type Scope } from './scope.js';
import { sliceEntries } from './slice-records.js';
import type { ControllerState, Emit } from './state.js';
import { endpointState } from './status.js';
import { TenantLimits } from './tenant-limits.js';
import { checkSliceId, parseAt, parseEndTime, validateRequest } from './validate.js';
import { withLinkProperties } from './shaping.js';
import { admit, reservedBy, sum } from './admission.js';
import { describeProperties } from '../shape/properties.js';

export interface SliceVerbsDeps {
  state: ControllerState; records: Records; ipam: Ipam; clock: Clock; queue: KeyedQueue; limits: Limits; emit: Emit;
  /** The store itself: Plan copies the IPAM's keys from it. */
  store: Store;
  /** Sends these nodes' desired state to their agents. */
  push: (nodes: readonly string[]) => void;
  /** The scheduled changes changed: the timer is set again for the earliest (schedule.ts). */
  rearm: () => void;
}

export interface PlanResult { manifest: Manifest; nodes: Array<{ node: string; steps: string[]; error?: string }> }

export class SliceVerbs {
  private readonly state: ControllerState;
  private readonly d: SliceVerbsDeps;
  private readonly tenants: TenantLimits;

  constructor(deps: SliceVerbsDeps) {
    this.d = deps;
    this.state = deps.state;
    this.tenants = new TenantLimits(deps.state.slices, deps.limits);
  }

  /** `signal`: the caller going away stops the work at the next safe point before the commit (CancelledError), never after it. */
  allocate(req: SliceRequest, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> {
    checkRequestLimits(req.topology, this.d.limits);
    const now = this.d.clock.now();
    const endTime = validateRequest(req, now);
    return this.d.queue.run(`slice/${req.slice}`, async () => {
      throwIfCancelled(opts.signal); // gone while waiting its turn: start nothing
      this.checkFree(req.slice, scope);
      const release = this.tenants.holdSlot(scope);
      try {
        return await this.allocateFree(req, endTime, scope, opts.signal);
      } finally {
        release();
      }
    });
  }

  private async allocateFree(req: SliceRequest, endTime: number, scope: Scope, signal?: AbortSignal): Promise<Manifest> {
    const { state } = this;
    // A big request is placed and answered in stretches of a few ms: other callers get turns meanwhile,
    // and a caller that went away stops between two of them.
    const pace = new Pacer(signal);
    const placed = await placeLinksPaced(req.slice, req.topology, state.nodes, state.connected, new Set(state.egress.keys()), pace);
    checkNamespaces(req.slice, req.topology, placed, state.slices.values(), state.reservedNs);
    // The allocation and the slice record are one commit: a crash leaves both or neither. The
    // record is built (and the AM's address limit checked) from each attempt's allocation, and
    // enters `slices` in the commit's own turn: the IPAM's sweeper keeps what `slices` has.
    let built: SliceRecord | undefined;
    const also = this.d.records.also(async (a: SliceAllocation) => {
      built = { ...this.record(req.slice, req.topology, endTime, a, await linkRecordsPaced(placed, a, pace)), ...(scope.owner ? { owner: scope.owner } : {}) };
      this.tenants.checkAddresses(built, scope);
      // Guaranteed capacity (admission.ts): admitted here, in the IPAM's serial turn, and held until the commit puts the slice in `slices`.
      state.admitting.set(req.slice, admit(built.links, state.reservedExcept(req.slice), state.nodes, (i) => `topology.links[${i}].guaranteed`));
      return sliceEntries(built, undefined, pace);
    }, () => state.slices.set(built!.slice, built!), pace);
    const spec = await ipamRequestPaced(req.slice, placed, pace);
    try {
      await this.d.ipam.allocate(spec, { also, signal }).catch((e: unknown) => { throw inTopologyTerms(e); });
    } finally {
      state.admitting.delete(req.slice);
    }
    const rec = built!;
    this.d.emit('allocated', { slice: rec.slice, message: `${rec.links.length} links, blocks ${rec.blocks.map((b) => b.prefix).join(', ')}` });
    // Committed: the answer is built whether or not the caller is still there (an Allocate that
    // allocated is never reported, nor audited, as cancelled).
    return state.manifest(rec, new Pacer());
  }

  /** A slice name the caller may allocate: free, or else a refusal that names no other tenant. */
  private checkFree(slice: string, scope: Scope): void {
    const s = this.state.slices.get(slice);
    if (!s) return;
    if (visible(s, scope)) throw new AlreadyExistsError(`slice: "${slice}" already has an allocation; Delete it first`, { field: 'slice' });
    throw new AlreadyExistsError(`slice: the name "${slice}" is taken; choose another`, { field: 'slice' });
  }

  provision(slice: string, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> {
    checkSliceId(slice);
    return this.d.queue.run(`slice/${slice}`, async () => {
      throwIfCancelled(opts.signal);
      const s = this.get(slice, scope);
      if (s.state === 'shutdown') throw new IncompatibleStateError(`slice: "${slice}" was shut down; Delete it and allocate again`, { field: 'slice' });
      if (s.state === 'provisioned') return this.state.manifest(s);
      const next: SliceRecord = { ...s, state: 'provisioned', generation: this.state.bump() };
      delete next.expiresAt;
      // The IPAM's mark and the slice record are one commit.
      await this.d.ipam.markProvisioned(slice, { also: this.d.records.also(() => sliceEntries(next, s, new Pacer(opts.signal))), ...(opts.signal ? { signal: opts.signal } : {}) });
      this.state.slices.set(slice, next);
      this.d.emit('provisioned', { slice, message: `provisioning on ${nodesOf(next).join(', ')}` });
      this.d.push(nodesOf(next));
      return this.state.manifest(next);
    });
  }

  async status(slice: string, scope: Scope = ALL): Promise<Manifest> { checkSliceId(slice); return this.state.manifest(this.get(slice, scope)); }

  /** The manifest and the topology it was allocated from (a manifest RSpec echoes the request's names). */
  async describeRequest(slice: string, scope: Scope = ALL): Promise<{ manifest: Manifest; request: Topology }> {
    checkSliceId(slice);
    const s = this.get(slice, scope);
    return { manifest: await this.state.manifest(s), request: s.request };
  }

  renew(slice: string, endTime: string, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> {
    checkSliceId(slice);
    if (!endTime) throw new InvalidSpecError('end_time: is required', { field: 'end_time' });
    const t = parseEndTime(endTime, this.d.clock.now());
    return this.d.queue.run(`slice/${slice}`, async () => {
      const s = this.get(slice, scope);
      if (s.state === 'shutdown') throw new IncompatibleStateError(`slice: "${slice}" was shut down`, { field: 'slice' });
      const next = { ...s, endTime: t };
      await this.commitSlice(next, opts.signal);
      this.d.emit('renewed', { slice, message: `until ${new Date(t).toISOString()}` });
      return this.state.manifest(next);
    });
  }

  /** `at`: later (RFC 3339), as a scheduled change; absent or passed: now. */
  performAction(slice: string, slivers: string[], action: OperationalAction, scope: Scope = ALL, opts: { signal?: AbortSignal; at?: string } = {}): Promise<Scheduled> {
    checkSliceId(slice);
    const at = parseAt(opts.at, this.d.clock.now());
    return this.d.queue.run(`slice/${slice}`, async () => {
      throwIfCancelled(opts.signal);
      const s = this.get(slice, scope);
      if (at !== undefined) {
        // Checked now as far as it can be (the slivers exist); whether the slice is provisioned, when it is made.
        if (s.state === 'shutdown') throw new IncompatibleStateError(`slice: "${slice}" was shut down`, { field: 'slice' });
        checkSlivers(s, slivers);
        return this.schedule(s, at, { action: { action, slivers } }, opts.signal);
      }
      return this.applyAction(s, slivers, action, opts.signal);
    });
  }

  private async applyAction(s: SliceRecord, slivers: string[], action: OperationalAction, signal?: AbortSignal): Promise<Manifest> {
    const { slice } = s;
    if (s.state !== 'provisioned') throw new IncompatibleStateError(`slice: "${slice}" is ${s.state === 'allocated' ? 'not provisioned yet' : 'shut down'}; operational actions need a provisioned slice`, { field: 'slice' });
    checkSlivers(s, slivers);
    const chosen = new Set(slivers.length ? slivers : s.links.map((l) => sliverId(slice, l.id)));
    const links = s.links.map((l) => {
      if (!chosen.has(sliverId(slice, l.id))) return l;
      if (action === 'start') return { ...l, stopped: false };
      if (action === 'stop') return { ...l, stopped: true };
      return { ...l, restart: l.restart + 1 };
    });
    const next = { ...s, links, generation: this.state.bump() };
    await this.commitSlice(next, signal);
    this.d.emit('action', { slice, message: `${action} ${[...chosen].join(', ')}` });
    this.d.push(nodesOf(next));
    return this.state.manifest(next);
  }

  /** A link's properties changed at run time (docs/links.md): the record now, the shapers in place on the nodes next. `at`: later, as a scheduled change. */
  setLinkProperties(slice: string, change: PropertiesChange, scope: Scope = ALL, opts: { signal?: AbortSignal; at?: string } = {}): Promise<Scheduled> {
    checkSliceId(slice);
    const at = parseAt(opts.at, this.d.clock.now());
    return this.d.queue.run(`slice/${slice}`, async () => {
      throwIfCancelled(opts.signal);
      const { state } = this;
      const s = this.get(slice, scope);
      if (s.state === 'shutdown') throw new IncompatibleStateError(`slice: "${slice}" was shut down`, { field: 'slice' });
      if (at !== undefined) {
        // Judged now by the rules and the nodes as they are (a mistake is told to the caller, not found later);
        // a guaranteed capacity is admitted when the change is made.
        withLinkProperties(s, change, state.nodes, state.connected);
        return this.schedule(s, at, { properties: change }, opts.signal);
      }
      return this.applyProperties(s, change, opts.signal);
    });
  }

  private async applyProperties(s: SliceRecord, change: PropertiesChange, signal?: AbortSignal): Promise<Manifest> {
    const { state } = this;
    const { slice } = s;
    if (s.state === 'shutdown') throw new IncompatibleStateError(`slice: "${slice}" was shut down`, { field: 'slice' });
    const next = { ...withLinkProperties(s, change, state.nodes, state.connected), generation: state.bump() };
    // A guaranteed link's new capacity is admitted against everything else reserved, held until committed.
    const changed = next.links.find((x) => x.id === change.link)!;
    if (changed.guaranteed) {
      const rest = reservedBy(next.links.filter((x) => x !== changed));
      state.admitting.set(slice, sum(rest, admit([changed], sum(state.reservedExcept(slice), rest), state.nodes, () => 'properties.capacity_bps')));
    }
    try {
      await this.commitSlice(next, signal);
    } finally {
      if (changed.guaranteed) state.admitting.delete(slice);
    }
    this.d.emit('properties', { slice, link: change.link, message: changed.endpoints.map((e) => `${e.node}: ${describeProperties(e.properties)}`).join('; ') });
    if (next.state === 'provisioned') this.d.push(nodesOf(next));
    return state.manifest(next);
  }

  // ---- changes at a given time (docs/links.md, "At a given time") ----

  /** Keeps a change for `at` in the slice's record (so it survives a restart and goes with the slice). */
  private async schedule(s: SliceRecord, at: number, what: Omit<ScheduledChange, 'id' | 'at'>, signal?: AbortSignal): Promise<Scheduled> {
    const pending = s.scheduled ?? [];
    if (pending.length >= MAX_SCHEDULED) {
      throw new PoolExhaustedError(`at: slice "${s.slice}" has ${pending.length} changes scheduled already (at most ${MAX_SCHEDULED}); cancel some, or wait for them`, { field: 'at' });
    }
    if (at >= s.endTime) throw new InvalidSpecError(`at: ${iso(at)} is not before the slice ends (${iso(s.endTime)}); Renew it first`, { field: 'at' });
    const n = (s.scheduledCount ?? 0) + 1;
    // The slice's allocation time in the id: a slice deleted and allocated again under
    // its name counts from 1 again, and an id of the old one must not cancel a new change.
    const c: ScheduledChange = { id: `c${n}-${s.allocatedAt.toString(36)}`, at, ...what };
    const next: SliceRecord = { ...s, scheduled: [...pending, c].sort(byTime), scheduledCount: n };
    await this.commitSlice(next, signal);
    this.d.emit('scheduled', { slice: s.slice, ...(c.properties ? { link: c.properties.link } : {}), message: `${c.id} at ${iso(at)}: ${describeChange(c)}` });
    this.d.rearm();
    return { ...(await this.state.manifest(next)), scheduledId: c.id };
  }

  /** A scheduled change taken back before its time. */
  cancelScheduled(slice: string, id: string, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> {
    checkSliceId(slice);
    return this.d.queue.run(`slice/${slice}`, async () => {
      throwIfCancelled(opts.signal);
      const s = this.get(slice, scope);
      const c = s.scheduled?.find((x) => x.id === id);
      if (!c) throw new NotFoundError(`id: no scheduled change "${id}" in slice "${slice}" (made already, cancelled, or never asked for)`, { field: 'id' });
      const next = withoutScheduled(s, c);
      await this.commitSlice(next, opts.signal);
      this.d.emit('unscheduled', { slice, ...(c.properties ? { link: c.properties.link } : {}), message: `${c.id} (at ${iso(c.at)}) cancelled: ${describeChange(c)}` });
      this.d.rearm();
      return this.state.manifest(next);
    });
  }

  /**
   * Makes the slice's changes due at `now`, in order, on its queue: each is
   * taken off the record in the same commit that makes it. One that cannot
   * be made then (the slice shut down or not provisioned, a node's capacity
   * taken) is dropped, and an event says why.
   */
  runScheduled(slice: string, now: number): Promise<void> {
    return this.d.queue.run(`slice/${slice}`, async () => {
      for (let s = this.state.slices.get(slice); s?.scheduled?.length && s.scheduled[0]!.at <= now; s = this.state.slices.get(slice)) {
        const c = s.scheduled[0]!;
        const base = withoutScheduled(s, c);
        const late = now - c.at >= 1000 ? `, ${((now - c.at) / 1000).toFixed(1)} s late` : '';
        const link = c.properties ? { link: c.properties.link } : {};
        try {
          if (c.properties) await this.applyProperties(base, c.properties);
          else if (c.action) await this.applyAction(base, c.action.slivers, c.action.action);
          this.d.emit('scheduled-made', { slice, ...link, message: `${c.id} (due ${iso(c.at)}${late}): ${describeChange(c)}` });
        } catch (e) {
          await this.commitSlice(base);
          this.d.emit('scheduled-failed', { slice, ...link, message: `${c.id} (due ${iso(c.at)}${late}) not made: ${(e as Error).message}` });
        }
      }
    });
  }

  delete(slice: string, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> {
    checkSliceId(slice);
    return this.d.queue.run(`slice/${slice}`, async () => { throwIfCancelled(opts.signal); return this.tearDown(this.get(slice, scope), 'deleted', opts.signal); });
  }

  /** Emergency stop: everything of the slice comes down at once; the record stays for Describe until Delete. */
  shutdown(slice: string, scope: Scope = ALL, opts: { signal?: AbortSignal } = {}): Promise<Manifest> {
    checkSliceId(slice);
    return this.d.queue.run(`slice/${slice}`, async () => {
      throwIfCancelled(opts.signal);
      const s = this.get(slice, scope);
      if (s.state === 'shutdown') return this.state.manifest(s);
      return this.tearDown(s, 'shutdown', opts.signal);
    });
  }

  /** The exact per-node changes a request would make, without making them. */
  async plan(req: SliceRequest, opts: { signal?: AbortSignal } = {}): Promise<PlanResult> {
    const { state } = this;
    checkRequestLimits(req.topology, this.d.limits);
    const now = this.d.clock.now();
    const endTime = validateRequest(req, now);
    if (state.slices.has(req.slice)) throw new AlreadyExistsError(`slice: "${req.slice}" already has an allocation`, { field: 'slice' });
    throwIfCancelled(opts.signal);
    const pace = new Pacer(opts.signal);
    const placed = await placeLinksPaced(req.slice, req.topology, state.nodes, state.connected, new Set(state.egress.keys()), pace);
    checkNamespaces(req.slice, req.topology, placed, state.slices.values(), state.reservedNs);
    // Allocate for real, but on a throwaway copy of the IPAM's keys: same
    // pools, same holdings, so the addresses and keys are exactly what
    // Allocate would give now — and nothing is reserved.
    const copy = createMemoryStore();
    const snap = await this.d.store.read([{ prefix: IPAM_PREFIX }]);
    const ops = snap.results[0]!.map((e) => ({ type: 'put' as const, key: e.key, value: e.value, expect: 0 }));
    if (ops.length) await copy.commit({ compares: [], ops });
    const a = await createIpam({ store: copy, clock: this.d.clock }).allocate(await ipamRequestPaced(req.slice, placed, pace), opts.signal ? { signal: opts.signal } : {}).catch((e: unknown) => { throw inTopologyTerms(e); });
    const rec: SliceRecord = { ...this.record(req.slice, req.topology, endTime, a, await linkRecordsPaced(placed, a, pace)), state: 'provisioned' };
    const nodes = await Promise.all(nodesOf(rec).map(async (node) => {
      const session = state.sessions.get(node);
      if (!session) return { node, steps: [], error: `node ${node} is not connected` };
      const reply = await session.plan(endpointsFor(node, [rec]));
      const errors = reply.endpoints.filter((e) => e.error).map((e) => `${e.link}: ${e.error}`);
      return { node, steps: reply.endpoints.flatMap((e) => e.steps.map((st) => `${e.link}: ${st}`)), ...(errors.length ? { error: errors.join('; ') } : {}) };
    }));
    await copy.close();
    return { manifest: await state.manifest({ ...rec, state: 'allocated' }, pace), nodes };
  }

  /** Endpoint-level state, for tests and tools. */
  endpointState(slice: string, link: string, node: string): ReturnType<typeof endpointState> {
    return endpointState(this.get(slice), link, node, this.state.connected(node), this.state.report(node));
  }

  /**
   * Takes a slice down in one store commit: the teardown record of every
   * member node, the release of its space, and its record (kept as shut down
   * for Describe until Delete, or gone). A crash leaves all of it or none.
   * Runs on the slice's queue (the verbs', or the sweeper's for 'expired').
   */
  /** `signal`: a caller gone before the commit stops it; after the commit the answer is built without it. */
  async tearDown(s: SliceRecord, kind: 'deleted' | 'shutdown' | 'expired', signal?: AbortSignal): Promise<Manifest> {
    const { state } = this;
    const gone: SliceRecord = { ...s, state: 'shutdown', generation: state.bump() };
    const pace = new Pacer(signal);
    const record = await sliceEntries(kind === 'shutdown' ? gone : undefined, s, pace);
    if (s.state === 'shutdown') await this.d.records.write(record, signal); // released when it was shut down
    else {
      // Provisioned or not: an agent may have started building; tell every member node.
      const ts = nodesOf(s).map((node) => [node, { slice: s.slice, group: s.groupId, namespaces: namespacesOn(s, node) } satisfies Teardown] as const);
      await this.d.ipam.release(s.slice, { also: this.d.records.also(() => [...ts.map(([node, t]) => [KEYS.teardown(node, s.slice), t] as const), ...record], undefined, pace), ...(signal ? { signal } : {}) });
      for (const [node, t] of ts) state.teardownsOf(node).set(s.slice, t);
    }
    if (kind === 'shutdown') state.slices.set(s.slice, gone);
    else state.slices.delete(s.slice);
    this.d.push(nodesOf(s));
    this.d.emit(kind, { slice: s.slice, message: `teardown on ${nodesOf(s).join(', ')}` });
    return { ...(await state.manifest(gone, new Pacer())), allocation: 'unallocated' };
  }

  /** A new slice record from its allocation, at a new generation. */
  private record(slice: string, topology: Topology, endTime: number, a: SliceAllocation, links: LinkRecord[]): SliceRecord {
    return {
      slice, state: 'allocated', request: topology, endTime, allocatedAt: a.allocatedAt,
      ...(a.expiresAt !== undefined ? { expiresAt: a.expiresAt } : {}),
      groupId: a.groupId ?? 0,
      blocks: a.blocks.map((b) => ({ addressClass: b.class, prefix: b.prefix, pool: b.pool })),
      links,
      generation: this.state.bump(),
    };
  }

  /** The slice if the scope may see it; NOT_FOUND alike for absent and for another owner's. */
  private get(slice: string, scope: Scope = ALL): SliceRecord {
    const s = this.state.slices.get(slice);
    if (!s || !visible(s, scope)) throw new NotFoundError(`slice: no slice "${slice}"`, { field: 'slice' });
    return s;
  }

  /** Writes a changed slice record (the header, and the link chunks that changed) and then keeps it. */
  private async commitSlice(s: SliceRecord, signal?: AbortSignal): Promise<void> {
    await this.d.records.writeSlice(s, this.state.slices.get(s.slice), signal);
    this.state.slices.set(s.slice, s);
  }
}

/** A verb's answer when it may have been scheduled: the manifest, and the scheduled change's id. */
export type Scheduled = Manifest & { scheduledId?: string };

/** Scheduled changes a slice may hold at once: they live in its record's header, read and written with every change of it. */
export const MAX_SCHEDULED = 256;

const iso = (t: number): string => new Date(t).toISOString();
const seq = (c: ScheduledChange): number => Number(c.id.slice(1));
const byTime = (a: ScheduledChange, b: ScheduledChange): number => a.at - b.at || seq(a) - seq(b);

function withoutScheduled(s: SliceRecord, c: ScheduledChange): SliceRecord {
  const rest = (s.scheduled ?? []).filter((x) => x !== c);
  const next: SliceRecord = { ...s, scheduled: rest };
  if (!rest.length) delete next.scheduled;
  return next;
}

function checkSlivers(s: SliceRecord, slivers: readonly string[]): void {
  const ids = new Set(s.links.map((l) => sliverId(s.slice, l.id)));
  slivers.forEach((id, i) => { if (!ids.has(id)) throw new NotFoundError(`slivers[${i}]: no sliver "${id}" in slice "${s.slice}"`, { field: `slivers[${i}]` }); });
}

/** "link l: capacity 10Mbit", "stop s/l1, s/l2", "start (every sliver)". */
export function describeChange(c: Pick<ScheduledChange, 'properties' | 'action'>): string {
  if (c.action) return `${c.action.action} ${c.action.slivers.length ? c.action.slivers.join(', ') : '(every sliver)'}`;
  const p = c.properties!;
  const own = (p.members ?? []).map((m) => `; ${m.node} sends ${describeProperties(m.properties)}`).join('');
  return `link ${p.link}: ${describeProperties(p.properties)}${own}`;
}
