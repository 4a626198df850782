// One node's kernel, as the agent sees it: reconcile a set of link
// endpoints (read each namespace once, plan, apply), list what visp owns,
// tear down by endpoint or by slice. Holds the netlink sockets: one in the
// node's namespace, one per experiment namespace it has touched; the node's
// visp-engine (userspace tunnels) is supervised by node-engine.ts, and
// given its tunnels again from here when it restarts.
//
// Experiment namespaces belong to one slice each (docs/ownership.md): visp
// creates one and marks it (its loopback's alias) for the endpoint's slice,
// builds only in a namespace marked as that slice's, deletes only such a
// namespace, and never builds in the node's own namespace. An agent runs
// with `namespaces: 'owned'`, so it also never touches a namespace without
// the mark; kernel tests, which bring namespaces they made, use `'any'`.
import type { EngineClient } from '../dataplane/engine-client.js';
import type { EngineProcess } from '../dataplane/engine-process.js';
import { IncompatibleStateError, NotFoundError } from '../errors.js';
import { addrAdd, addrList } from '../netlink/addr.js';
import { AF, RTN, RTPROT_VISP, RT_TABLE } from '../netlink/constants.js';
import { linkDel, linkDelGroup, linkGet, linkSet, type Link, type LinkStats } from '../netlink/link.js';
import { netnsCreate, netnsDel, netnsExists, withNetnsFd } from '../netlink/netns.js';
import { routeList, routeReplace, type RouteSpec } from '../netlink/route.js';
import { netnsPath, NetlinkSocket } from '../netlink/socket.js';
import { aliasOf, netnsMarkOf, parseAlias, parseNetnsMark, sameOwner, type NetnsOwner } from '../ownership.js';
import { assertSupported, probeCapabilities, type Capabilities } from '../tunnel/probe.js';
import { assertShapeable, shaperSupport } from '../shape/probe.js';
import { ENGINE_LINK_KIND } from '../tunnel/userspace.js';
import { censusChanged, namespaceCensus, namespaceMarks, nsId, readMark } from './census.js';
import { endpointNames } from './names.js';
import { applySteps } from './apply.js';
import { NodeEngine, type NodeEngineOptions } from './node-engine.js';
import { describeStep, planEndpoint, type Step } from './plan.js';
import { emptyView, readView, type NsView } from './snapshot.js';
import { ViewCache, type ViewWanted } from './view-cache.js';
import { ANCHOR, isAnchor } from '../bridge/anchor.js';
import { resolveEndpoint, type EndpointSpec, type ResolvedEndpoint } from './spec.js';

export interface EndpointResult {
  slice: string;
  link: string;
  /** The steps planned (and, unless dry run, applied), in words. */
  steps: string[];
  error?: Error;
  /** Objects of this endpoint were there before this reconcile (built earlier, by this agent or one before it). */
  found?: boolean;
}

export interface ReconcileOptions {
  signal?: AbortSignal;
  /** Only plan; touch nothing. */
  dryRun?: boolean;
  /** Create experiment namespaces that do not exist yet (default true). */
  createNamespaces?: boolean;
  /** Endpoints applied at once (default 256). */
  concurrency?: number;
}

export interface OwnedLink {
  netns: string | undefined;
  name: string;
  kind: string | undefined;
  slice: string;
  link: string;
  index: number;
  up: boolean;
  mtu: number | undefined;
  master: number | undefined;
  group: number | undefined;
  stats: LinkStats | undefined;
}

let capsOnce: Promise<Capabilities> | undefined;
/** Kernel capabilities are per kernel, not per namespace: probe once per process. */
export const capabilities = (): Promise<Capabilities> => (capsOnce ??= probeCapabilities());

export interface NodeKernelOptions {
  /** The node's named namespace; default: the one this process runs in. */
  netns?: string;
  /**
   * visp-engine for userspace tunnels: its run directory (socket, log;
   * default /run/visp), its name (default: the namespace's), its binary.
   * false: no engine (userspace kinds fail).
   */
  engine?: NodeEngineOptions['engine'];
  log?: (line: string) => void;
  /**
   * Which existing experiment namespaces may be used. 'owned' (an agent):
   * only one visp created and marked for the endpoint's slice. 'any'
   * (default; kernel tests, which name namespaces they made themselves): an
   * unmarked one too. Either way the node's own namespace is refused, and so
   * is one marked for another slice; a namespace visp creates is marked.
   */
  namespaces?: 'owned' | 'any';
}

/** What an experiment namespace is to visp: the node's own, not there, without a visp mark, or marked for a slice. */
export type NamespaceState = 'node' | 'absent' | 'unmarked' | NetnsOwner;

/**
 * Why an endpoint of `owner` may not use a namespace in `state`, or
 * undefined when it may. Never names another slice: that would tell one
 * tenant another's slice id.
 */
export function namespaceRefusal(ns: string, state: NamespaceState, owner: NetnsOwner, policy: 'owned' | 'any'): string | undefined {
  if (state === 'node') return `namespace "${ns}" is this node's own; visp never builds in it`;
  if (state === 'absent') return undefined;
  if (state === 'unmarked') {
    return policy === 'any' ? undefined : `namespace "${ns}" exists and was not created by visp for this slice; visp never touches a namespace it did not create`;
  }
  if (sameOwner(state, owner)) return undefined;
  if (state.slice === owner.slice) return `namespace "${ns}" was created for an earlier slice "${owner.slice}" (group ${state.group}, this one is ${owner.group}); delete it`;
  return `namespace "${ns}" is taken by another slice`;
}

/** The experimenter's addresses and routes on a layer-3 endpoint's interface, carried across its rebuild by a restart. */
interface Carried { addrs: string[]; routes: RouteSpec[] }

/** Route protocols the kernel itself sets (redirect, kernel, router advertisement), and visp's own: not an experimenter's. */
const NOT_THEIRS = new Set([1, 2, 9, RTPROT_VISP]);


const keyOf = (s: { slice: string; link: string }): string => `${s.slice}/${s.link}`;

export class NodeKernel {
  readonly netns: string | undefined;
  private readonly node: NetlinkSocket;
  private readonly exps = new Map<string, NetlinkSocket>();
  private readonly opts: NodeKernelOptions;
  private readonly eng: NodeEngine;
  /** Every endpoint reconciled here and not deleted since: whose engine tunnel is whose, and what to re-send to a restarted engine. */
  private readonly known = new Map<string, EndpointSpec>();
  /** Since a reconcile ran, `known` holds every endpoint still desired here (an agent reconciles all of them). */
  private reconciledOnce = false;
  /** Mutations (and an engine restart's re-send) one at a time. */
  private tail: Promise<unknown> = Promise.resolve();
  private readonly policy: 'owned' | 'any';
  /** Identities of the namespaces no experiment may use: the node's, this process's, the host's first (pid 1). */
  private ownIds: Set<string> | undefined;
  /** The reserved list last read, and the census it was read from (the same census: the same list). */
  private reservedFor: { census: ReadonlyArray<{ name: string; id: string }>; names: string[] } | undefined;
  /** Per namespace name, whether its identity was seen to carry a visp mark: shared by the process's node kernels (census.ts). */
  private readonly marks = namespaceMarks;
  /** Layer-3 endpoints being restarted: what the experimenter had on the interface, put back once it is rebuilt. */
  private readonly carried = new Map<string, Carried>();
  /**
   * When a reconcile reads the node's qdiscs: on the first pass (a shaper
   * left by an earlier agent is checked once), and while an endpoint in it
   * is shaped, or was when last reconciled (`shapedKeys`: its shaper is kept
   * in place, or removed). A node that shapes nothing reads none after that.
   */
  private qdiscsChecked = false;
  private readonly shapedKeys = new Set<string>();
  /**
   * Per namespace (the node's: key undefined), its view kept between passes
   * while its notifications say nothing changed (view-cache.ts): a no-op
   * reconcile costs no dump. Every serialized operation but a reconcile that
   * changed nothing drops them all.
   */
  private readonly views = new Map<string | undefined, ViewCache>();
  private cleanPass = false;

  constructor(opts: NodeKernelOptions = {}) {
    this.opts = opts;
    this.netns = opts.netns;
    this.policy = opts.namespaces ?? 'any';
    this.node = new NetlinkSocket(opts.netns ? { netns: opts.netns } : {});
    this.eng = new NodeEngine({
      ...(opts.netns ? { netns: opts.netns } : {}), ...(opts.engine !== undefined ? { engine: opts.engine } : {}), ...(opts.log ? { log: opts.log } : {}),
      onRestart: () => this.resend(),
    });
  }

  /** The kernel's tunnel capabilities (probed once per process). */
  capabilities(): Promise<Capabilities> {
    return capabilities();
  }

  /** Whether `ns` names the node's own namespace (or this process's, or the host's first): never an experiment's. */
  isNodeNamespace(ns: string): boolean {
    if (ns === this.netns) return true;
    const id = nsId(netnsPath(ns));
    return id !== undefined && this.ownNamespaceIds().has(id);
  }

  private ownNamespaceIds(): Set<string> {
    this.ownIds ??= new Set([this.netns ? netnsPath(this.netns) : '/proc/self/ns/net', '/proc/self/ns/net', '/proc/1/ns/net']
      .map(nsId).filter((x): x is string => !!x));
    return this.ownIds;
  }

  /** What `ns` is to visp, read from its loopback's alias (one request). */
  async namespaceState(ns: string, signal?: AbortSignal): Promise<NamespaceState> {
    if (this.isNodeNamespace(ns)) return 'node';
    if (!netnsExists(ns)) return 'absent';
    let lo: Link | undefined;
    try { lo = await linkGet(this.expSocket(ns), 'lo', signal); } catch (e) {
      if (!netnsExists(ns)) return 'absent';
      throw e;
    }
    return parseNetnsMark(lo?.alias) ?? 'unmarked';
  }

  /**
   * Create `ns` for `owner` and mark it, or false when it exists already
   * (made by someone else meanwhile: then judged by its mark like any
   * other). Exclusive: the name is created with O_EXCL (as iproute2 does), so a success
   * means this call made the namespace and nobody else can have used it.
   * A crash between create and mark leaves it unmarked: refused, on the
   * safe side, until an operator deletes it.
   */
  private async createNamespace(ns: string, owner: NetnsOwner): Promise<boolean> {
    // A socket cached for an earlier namespace of this name (deleted since) would still point at that one.
    this.forgetNamespace(ns);
    // In-process, as `ip netns add` (an agent host making thousands would fork itself for each).
    if (!await netnsCreate(ns)) return false;
    // Its loopback up (experiments expect a working lo) and marked as the slice's.
    await linkSet(this.expSocket(ns), 'lo', { alias: netnsMarkOf(owner), up: true }, undefined, `${ns}: lo`);
    const id = nsId(netnsPath(ns));
    if (id) this.marks.set(ns, { id, visp: true });
    censusChanged();
    return true;
  }

  /**
   * Namespaces on this host that no slice may use, for the controller to
   * refuse at Allocate: the node's own (and any other name for it), and
   * every namespace without a visp mark — made by someone else, or by visp
   * before namespaces were marked. Each namespace's mark is read once per
   * identity (a new namespace of an old name is read again). While the
   * census is the same (no name added or removed), the answer is the list
   * returned last time, the same array: an agent's every pass asks, and a
   * lab host's agents would otherwise each walk all N namespaces per pass.
   */
  async reservedNamespaces(signal?: AbortSignal): Promise<string[]> {
    // The census (names and identities) is the host's, shared for a moment by
    // every node kernel in this process: many lab agents in one process would
    // otherwise each stat every namespace on every pass.
    const all = namespaceCensus();
    if (this.reservedFor?.census === all) return this.reservedFor.names;
    const out = new Set<string>(this.netns ? [this.netns] : []);
    for (const { name, id } of all) {
      // The census has each identity already: no stat per name.
      if (name === this.netns || this.ownNamespaceIds().has(id)) { out.add(name); continue; }
      let m = this.marks.get(name);
      if (m?.id !== id) {
        m = await readMark(name, id, signal);
        this.marks.set(name, m);
      }
      if (!m.visp) out.add(name);
    }
    const names = [...out].sort();
    this.reservedFor = { census: all, names };
    return names;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.cleanPass = false;
      try { return await fn(); } finally {
        if (!this.cleanPass) for (const v of this.views.values()) v.invalidate();
      }
    };
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** A namespace's view for a reconcile pass: kept from the last pass while nothing changed there. */
  private cachedView(ns: string | undefined, s: NetlinkSocket, what: ViewWanted, signal?: AbortSignal): Promise<NsView> {
    let c = this.views.get(ns);
    if (!c) {
      try { c = new ViewCache(ns ?? this.netns); } catch { return readView(s, what, signal); }   // gone meanwhile: the dump says so
      this.views.set(ns, c);
    }
    return c.read(s, what, signal);
  }

  /** Dumps a reconcile pass saved by keeping views, and the dumps it made (benchmarks). */
  get viewStats(): { hits: number; dumps: number } {
    let hits = 0, dumps = 0;
    for (const v of this.views.values()) { hits += v.stats.hits; dumps += v.stats.dumps; }
    return { hits, dumps };
  }

  /** The node's engine process handle (not started), or undefined when this node kernel has none. */
  engine(): EngineProcess | undefined {
    return this.eng.process();
  }

  /** A restarted engine has no tunnels: reconcile every known endpoint that has userspace ones (re-sends them, re-attaches the devices). */
  private async resend(): Promise<void> {
    const caps = await capabilities();
    const specs = [...this.known.values()].filter((s) => caps[s.kind]?.dataplane === 'userspace');
    const r = await this.reconcile(specs);
    for (const x of r) if (x.error) this.opts.log?.(`engine restart: ${x.slice}/${x.link}: ${x.error.message}`);
  }

  /** Stop the node's engine (its devices go with it): tests and node decommissioning, never an agent restart. */
  stopEngine(): Promise<void> {
    return this.eng.stop();
  }

  /** Owner (slice/link) of each engine tunnel name, from the endpoints reconciled here. */
  private engineOwners(): Map<string, EndpointSpec> {
    const out = new Map<string, EndpointSpec>();
    for (const s of this.known.values()) {
      try { for (const t of resolveEndpoint(s).tunnels) out.set(t.name, s); } catch { /* it never resolved: no tunnels */ }
    }
    return out;
  }

  /** Messages sent on all sockets so far (tests assert a no-op writes nothing). */
  get messagesSent(): number {
    let n = this.node.stats.messages;
    for (const s of this.exps.values()) n += s.stats.messages;
    return n;
  }

  /** Close our socket into a namespace (it would keep a deleted namespace alive in the kernel). */
  forgetNamespace(ns: string): void {
    this.exps.get(ns)?.close();
    this.exps.delete(ns);
    this.views.get(ns)?.close();
    this.views.delete(ns);
  }

  expSocket(ns: string): NetlinkSocket {
    let s = this.exps.get(ns);
    if (!s) { s = new NetlinkSocket({ netns: ns }); this.exps.set(ns, s); }
    return s;
  }

  async reconcile(specs: readonly EndpointSpec[], o: ReconcileOptions = {}): Promise<EndpointResult[]> {
    return o.dryRun ? this.reconcileNow(specs, o) : this.serial(() => this.reconcileNow(specs, o));
  }

  private async reconcileNow(specs: readonly EndpointSpec[], o: ReconcileOptions): Promise<EndpointResult[]> {
    const results: EndpointResult[] = specs.map((s) => ({ slice: s.slice, link: s.link, steps: [] }));
    const resolved: Array<ResolvedEndpoint | undefined> = specs.map((s, i) => {
      try { return resolveEndpoint(s); } catch (e) { results[i]!.error = e as Error; return undefined; }
    });
    const caps = resolved.some(Boolean) ? await capabilities() : undefined;
    resolved.forEach((r, i) => {
      if (!r) return;
      try { assertSupported(caps!, r.spec.kind); } catch (e) { results[i]!.error = e as Error; resolved[i] = undefined; return; }
      // Where the kernel has no driver, the engine carries the tunnels.
      if (caps![r.spec.kind].dataplane === 'userspace') {
        resolved[i] = { ...r, tunnels: r.tunnels.map((t) => ({ ...t, dataplane: 'userspace' as const, underlayMtu: r.spec.underlayMtu ?? 1500 })) };
      }
    });
    // The spec each endpoint had when last reconciled here: an address only that one had is visp's to remove.
    const former = resolved.map((r) => (r ? this.known.get(keyOf(r.spec))?.addresses : undefined));
    if (!o.dryRun) {
      for (const r of resolved) if (r) this.known.set(keyOf(r.spec), r.spec);
      this.reconciledOnce = true;
    }

    // Experiment namespaces (the egress end of a link has none): created and
    // marked for the first endpoint that needs one, otherwise read; each
    // endpoint may use only one its slice may (namespaceRefusal).
    const namespaces = [...new Set(resolved.filter((r) => r && !r.nodeSide).map((r) => r!.spec.netns))];
    const states = new Map<string, NamespaceState>();
    const expViews = new Map<string, NsView>();
    const routesIn = new Set(resolved.filter((r) => r && !r.nodeSide && r.routes.length).map((r) => r!.spec.netns));
    const failed = new Map<string, Error>();
    for (const ns of namespaces) {
      if (this.isNodeNamespace(ns)) { states.set(ns, 'node'); continue; }
      if (netnsExists(ns) || o.createNamespaces === false || o.dryRun) continue;
      const first = resolved.find((r) => r && !r.nodeSide && r.spec.netns === ns)!;
      try {
        if (await this.createNamespace(ns, first.mark)) states.set(ns, { slice: first.mark.slice, group: first.mark.group });
      } catch (e) { failed.set(ns, e as Error); }
    }
    await Promise.all(namespaces.filter((ns) => !failed.has(ns) && states.get(ns) !== 'node').map(async (ns) => {
      if (!netnsExists(ns)) { states.set(ns, 'absent'); expViews.set(ns, emptyView()); return; }
      try {
        const v = await this.cachedView(ns, this.expSocket(ns), { addrs: true, routes: routesIn.has(ns) }, o.signal);
        expViews.set(ns, v);
        if (!states.has(ns)) states.set(ns, parseNetnsMark(v.byName.get('lo')?.alias) ?? 'unmarked');
      } catch (e) { failed.set(ns, e as Error); }
    }));
    // A namespace that is not there yet goes to the first endpoint that names it (in a dry run too).
    for (const r of resolved) if (r && !r.nodeSide && states.get(r.spec.netns) === 'absent') states.set(r.spec.netns, { slice: r.mark.slice, group: r.mark.group });
    resolved.forEach((r, i) => {
      if (!r || r.nodeSide) return;
      const ns = r.spec.netns;
      const err = failed.get(ns);
      const why = err ? undefined : namespaceRefusal(ns, states.get(ns)!, r.mark, this.policy);
      if (!err && !why) return;
      results[i]!.error = err ?? new IncompatibleStateError(`netns: ${why}`, { field: 'netns' });
      resolved[i] = undefined;
    });

    // Shaping (docs/links.md): refused, like a missing tunnel module, where the kernel lacks a qdisc it needs.
    const shaped = resolved.some((r) => r?.shaper.length);
    if (shaped) {
      const support = await shaperSupport();
      resolved.forEach((r, i) => {
        try { if (r?.shaper.length) assertShapeable(r.spec.properties, support); } catch (e) { results[i]!.error = e as Error; resolved[i] = undefined; }
      });
    }
    const needFdb = resolved.some((r) => r && r.fdb.length > 0);
    const needNodeAddrs = resolved.some((r) => r?.nodeSide);
    const qdiscs = shaped || !this.qdiscsChecked || specs.some((sp) => this.shapedKeys.has(keyOf(sp)));
    // The filters of redirect joins (and of a join left on what is now a bridge port): any layer-2 endpoint.
    const joins = resolved.some((r) => r?.layer === 2);
    const nodeView = await this.cachedView(undefined, this.node, { fdb: needFdb, addrs: needNodeAddrs, qdiscs, joins }, o.signal);
    if (!o.dryRun) {
      this.qdiscsChecked = true;
      for (const r of resolved) if (r?.shaper.length) this.shapedKeys.add(keyOf(r.spec));
    }
    // The engine's side of userspace tunnels (what the kernel cannot tell about a tun device).
    const userspace = (r: ResolvedEndpoint | undefined): boolean => !!r && r.tunnels.some((t) => t.dataplane === 'userspace');
    try {
      nodeView.engine = await this.eng.tunnels(!o.dryRun && resolved.some(userspace), o.signal);
    } catch (e) {
      // No engine: the endpoints that need it fail, the others go ahead.
      resolved.forEach((r, i) => { if (userspace(r)) { results[i]!.error = e as Error; resolved[i] = undefined; } });
    }

    const plans: Array<Step[] | undefined> = resolved.map((r, i) => {
      if (!r) return undefined;
      try {
        const exp = r.nodeSide ? nodeView : expViews.get(r.spec.netns)!;
        const alias = aliasOf(r.mark);
        results[i]!.found = !!nodeView.byAlias.get(alias)?.length || (!r.nodeSide && !!exp.byAlias.get(alias)?.length);
        const steps = planEndpoint(r, nodeView, exp, { ...(former[i] ? { formerAddresses: former[i] } : {}) });
        results[i]!.steps = steps.map((s) => describeStep(s, r));
        return steps;
      } catch (e) { results[i]!.error = e as Error; return undefined; }
    });
    if (o.dryRun) return results;
    // Nothing to do and nothing failed: the kernel is as it was read, so the kept views stay valid.
    this.cleanPass = results.every((x) => !x.error && x.steps.length === 0) && failed.size === 0;
    // Unshaped and with nothing left to remove: its device's qdiscs need no more reading.
    resolved.forEach((r, i) => { if (r && !r.shaper.length && plans[i] && !plans[i]!.some((st) => st.op === 'shape')) this.shapedKeys.delete(keyOf(r.spec)); });

    // Apply, endpoints in parallel (their messages share datagrams), each endpoint's steps in order.
    const work = resolved.map((r, i) => ({ r, i })).filter(({ i }) => (plans[i]?.length ?? 0) > 0);
    const limit = o.concurrency ?? 256;
    const engine = (): Promise<EngineClient> => this.eng.client(o.signal);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < work.length) {
        const { r, i } = work[next++]!;
        const ns = r!.spec.netns;
        if (r!.nodeSide) {
          // No experiment namespace: nothing is moved (no fd needed), addresses go on the bridge.
          try { await applySteps(r!, plans[i]!, { node: this.node, exp: this.node, expFd: -1, engine, ...(o.signal ? { signal: o.signal } : {}) }); } catch (e) { results[i]!.error = e as Error; }
          continue;
        }
        if (!netnsExists(ns)) { results[i]!.error = new NotFoundError(`experiment namespace ${ns} does not exist`, { field: 'netns' }); continue; }
        try {
          await withNetnsFd(ns, (fd) => applySteps(r!, plans[i]!, { node: this.node, exp: this.expSocket(ns), expFd: fd, engine, ...(o.signal ? { signal: o.signal } : {}) }));
          await this.putBack(r!, o.signal);
        } catch (e) { results[i]!.error = e as Error; }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, work.length) }, worker));
    return results;
  }

  /** After a layer-3 endpoint's rebuild: the experimenter's addresses and routes it had before the restart, back on it. */
  private async putBack(r: ResolvedEndpoint, signal?: AbortSignal): Promise<void> {
    const c = this.carried.get(keyOf(r.spec));
    if (!c) return;
    this.carried.delete(keyOf(r.spec));
    const exp = this.expSocket(r.spec.netns);
    const dev = await linkGet(exp, r.spec.ifname, signal);
    if (!dev) return;
    for (const a of c.addrs) {
      await addrAdd(exp, dev.index, a, signal, `${r.spec.netns}:${r.spec.ifname}`)
        .catch((e: Error) => this.opts.log?.(`${keyOf(r.spec)}: restart: could not put back ${a}: ${e.message}`));
    }
    for (const rt of c.routes) {
      await routeReplace(exp, { ...rt, oif: dev.index }, signal)
        .catch((e: Error) => this.opts.log?.(`${keyOf(r.spec)}: restart: could not put back route ${rt.dst}: ${e.message}`));
    }
  }

  /** Remove one endpoint's objects (by name, only if they carry its mark). */
  deleteEndpoint(spec: EndpointSpec, signal?: AbortSignal): Promise<string[]> {
    return this.serial(() => this.deleteEndpointNow(spec, signal));
  }

  /**
   * A restart action: take down what visp built for the endpoint so that the
   * next reconcile builds it afresh, keeping what the experimenter put on its
   * interface. Layer 2: the tunnels and the bridge go; the veth pair, and so
   * the experiment's interface with its addresses and routes, stays (its host
   * end joins the new bridge). Layer 3, where the tunnel is the experiment's
   * interface: the experimenter's addresses and routes on it are read first
   * and put back when the next reconcile has rebuilt it (by this process: an
   * agent that dies in between loses them).
   */
  restartEndpoint(spec: EndpointSpec, signal?: AbortSignal): Promise<string[]> {
    return this.serial(async () => {
      const r = resolveEndpoint(spec);
      if (r.layer === 3 && !r.nodeSide) await this.carry(r, signal);
      return this.deleteEndpointNow(spec, signal, { keepVeth: r.layer === 2 && !r.nodeSide });
    });
  }

  /** Read what the experimenter has on a layer-3 endpoint's interface (addresses and routes that are not visp's or the kernel's). */
  private async carry(r: ResolvedEndpoint, signal?: AbortSignal): Promise<void> {
    const ns = r.spec.netns;
    if (namespaceRefusal(ns, await this.namespaceState(ns, signal), r.mark, this.policy) || !netnsExists(ns)) return;
    const exp = this.expSocket(ns);
    const dev = await linkGet(exp, r.spec.ifname, signal);
    if (!dev || dev.alias !== aliasOf(r.mark)) return;
    const addrs = (await addrList(exp, signal))
      .filter((a) => a.index === dev.index && !(a.family === AF.INET6 && a.address.startsWith('fe80:')) && !r.addresses.includes(a.cidr))
      .map((a) => a.cidr);
    const routes = [...await routeList(exp, AF.INET, signal), ...await routeList(exp, AF.INET6, signal)]
      .filter((rt) => rt.oif === dev.index && rt.table !== RT_TABLE.LOCAL && rt.type === RTN.UNICAST && !NOT_THEIRS.has(rt.protocol))
      .map((rt): RouteSpec => ({
        dst: rt.dst, table: rt.table, protocol: rt.protocol,
        ...(rt.gateway ? { gateway: rt.gateway } : {}), ...(rt.metric !== undefined ? { metric: rt.metric } : {}), ...(rt.src ? { src: rt.src } : {}),
      }));
    if (addrs.length || routes.length) this.carried.set(keyOf(r.spec), { addrs, routes });
  }

  private async deleteEndpointNow(spec: EndpointSpec, signal?: AbortSignal, o: { keepVeth?: boolean } = {}): Promise<string[]> {
    const r = resolveEndpoint(spec);
    const alias = aliasOf(r.mark);
    const removed: string[] = [];
    // Its engine tunnels first, by name (a device the engine holds only goes when the engine closes it; a moved TUN is not in this namespace).
    const engine = await this.eng.tunnels(false, signal);
    for (const t of r.tunnels) {
      if (!engine.has(t.name)) continue;
      await this.eng.deleteTunnel(t.name, signal);
      removed.push(`${t.name} (userspace)`);
    }
    this.known.delete(keyOf(spec));
    const nodeView = await readView(this.node, {}, signal);
    for (const l of nodeView.byName.values()) {
      if (l.alias !== alias || (o.keepVeth && l.name === r.vethHost)) continue;
      if (l.kind === ENGINE_LINK_KIND && engine.has(l.name)) await this.eng.deleteTunnel(l.name, signal);
      else await linkDel(this.node, { index: l.index }, signal);
      removed.push(l.name);
    }
    if (!o.keepVeth) await this.dropIdleAnchor(signal);
    const ns = r.spec.netns;
    // The experiment side only in a namespace this endpoint may touch.
    if (!r.nodeSide && !o.keepVeth && netnsExists(ns) && !namespaceRefusal(ns, await this.namespaceState(ns, signal), r.mark, this.policy)) {
      const exp = this.expSocket(ns);
      for (const l of (await readView(exp, {}, signal)).byName.values()) {
        if (l.alias !== alias) continue;
        await linkDel(exp, { index: l.index }, signal);
        removed.push(`${ns}:${l.name}`);
      }
    }
    return removed;
  }

  /**
   * Delete our links in the node namespace whose slice/link `keep` rejects
   * (a lost teardown, a controller that forgot). Returns what went.
   */
  prune(keep: (slice: string, link: string) => boolean, signal?: AbortSignal): Promise<string[]> {
    return this.serial(async () => {
      const gone = await this.pruneNow(keep, signal);
      // Nothing pruned: the kept views still hold (an agent prunes before every pass).
      this.cleanPass = gone.length === 0;
      return gone;
    });
  }

  /**
   * Engine tunnels too: by the mark on their device in the node namespace;
   * otherwise (a moved TUN, a device deleted by hand) by the endpoint that
   * was reconciled here; one that no endpoint claims, once a reconcile has
   * shown what is desired, is an orphan and goes.
   */
  private async pruneNow(keep: (slice: string, link: string) => boolean, signal?: AbortSignal): Promise<string[]> {
    const gone: string[] = [];
    const engine = await this.eng.tunnels(false, signal);
    const view = await this.cachedView(undefined, this.node, {}, signal);
    for (const l of view.byName.values()) {
      const m = parseAlias(l.alias);
      if (!m || keep(m.slice, m.link)) continue;
      if (l.kind === ENGINE_LINK_KIND && engine.has(l.name)) await this.eng.deleteTunnel(l.name, signal);
      else await linkDel(this.node, { index: l.index }, signal);
      engine.delete(l.name);
      gone.push(`${l.name} (${m.slice}/${m.link})`);
    }
    const owners = this.engineOwners();
    for (const name of engine.keys()) {
      if (view.byName.has(name)) continue;   // its device is here: judged by its mark above
      const o = owners.get(name);
      if (o ? keep(o.slice, o.link) : !this.reconciledOnce) continue;
      await this.eng.deleteTunnel(name, signal);
      if (o) this.known.delete(keyOf(o));
      gone.push(`${name} (userspace${o ? `, ${keyOf(o)}` : ', no endpoint'})`);
    }
    for (const [k, s] of this.known) if (!keep(s.slice, s.link)) this.known.delete(k);
    if (gone.length) await this.dropIdleAnchor(signal);
    return gone;
  }

  /** Tear down a whole slice: one group delete per namespace (namespaces as given: see teardownSlice for an agent's). */
  deleteSlice(group: number, namespaces: readonly string[], signal?: AbortSignal): Promise<void> {
    if (!Number.isInteger(group) || group < 1) return Promise.reject(new IncompatibleStateError(`deleteSlice: group ${group} is not a visp slice group`, { field: 'group' }));
    return this.serial(() => this.deleteSliceNow(group, namespaces, signal));
  }

  /**
   * An agent's teardown of a slice: its links by group in the node namespace
   * and in each of its namespaces that it may touch, then the namespaces
   * visp created for it (marked as its). A namespace of another slice, the
   * node's own, and (policy 'owned') one without a mark are left exactly as
   * they are, and said so in `untouched`.
   */
  teardownSlice(t: { slice: string; group: number; namespaces: readonly string[] }, signal?: AbortSignal): Promise<{ deleted: string[]; untouched: string[] }> {
    if (!Number.isInteger(t.group) || t.group < 1) return Promise.reject(new IncompatibleStateError(`teardownSlice: group ${t.group} is not a visp slice group`, { field: 'group' }));
    return this.serial(async () => {
      const owner = { slice: t.slice, group: t.group };
      const touch: string[] = [], mine: string[] = [], untouched: string[] = [], deleted: string[] = [];
      for (const ns of t.namespaces) {
        const state = await this.namespaceState(ns, signal);
        if (state === 'absent') { this.forgetNamespace(ns); continue; }
        const why = namespaceRefusal(ns, state, owner, this.policy);
        if (why) untouched.push(why);
        else touch.push(ns);
        if (!why && typeof state === 'object') mine.push(ns);
      }
      await this.deleteSliceNow(t.group, touch, signal);
      for (const ns of touch) {
        // Our socket into it would keep a deleted namespace alive in the kernel.
        this.forgetNamespace(ns);
        if (!mine.includes(ns)) continue;
        await netnsDel(ns);
        this.marks.delete(ns);
        censusChanged();
        deleted.push(ns);
      }
      return { deleted, untouched };
    });
  }

  private async deleteSliceNow(group: number, namespaces: readonly string[], signal?: AbortSignal): Promise<void> {
    // The engine's tunnels of the slice first: a group delete does not reach
    // the engine (its devices only go when it closes them), and a device
    // deleted under it would leave it holding a dead one.
    const engine = await this.eng.tunnels(false, signal);
    if (engine.size) {
      const doomed = new Set<string>();
      for (const l of (await readView(this.node, {}, signal)).byName.values()) {
        if (l.group === group && l.kind === ENGINE_LINK_KIND && engine.has(l.name)) doomed.add(l.name);
      }
      // A layer-3 one was moved and renamed: find it by its mark in the experiment namespace.
      for (const ns of namespaces) {
        if (!netnsExists(ns)) continue;
        for (const l of (await readView(this.expSocket(ns), {}, signal)).byName.values()) {
          const m = parseAlias(l.alias);
          if (m && l.group === group && l.kind === ENGINE_LINK_KIND) doomed.add(endpointNames(m.slice, m.link).tunnel());
        }
      }
      for (const [name, s] of this.engineOwners()) if (s.group === group) doomed.add(name);
      for (const name of doomed) if (engine.has(name)) await this.eng.deleteTunnel(name, signal);
    }
    for (const [k, s] of this.known) if (s.group === group) this.known.delete(k);
    await linkDelGroup(this.node, group, signal);
    for (const ns of namespaces) if (netnsExists(ns)) await linkDelGroup(this.expSocket(ns), group, signal);
    await this.dropIdleAnchor(signal);
  }

  /**
   * The node's anchor bridge (src/bridge/anchor.ts) goes with its last port:
   * after a slice's teardown, a deleted endpoint or a prune, nothing of
   * visp's stays on a node that carries no link. (Deleting a bridge costs
   * an rcu_barrier(), once per node that empties, not per link.)
   */
  private async dropIdleAnchor(signal?: AbortSignal): Promise<void> {
    const links = (await readView(this.node, {}, signal)).byName;
    const a = links.get(ANCHOR);
    if (!a || !isAnchor(a)) return;
    for (const l of links.values()) if (l.master === a.index) return;
    await linkDel(this.node, { index: a.index }, signal);
  }

  /** Every link visp owns in the node namespace and the given experiment namespaces. */
  async owned(namespaces: readonly string[] = [], opts: { stats?: boolean; signal?: AbortSignal } = {}): Promise<OwnedLink[]> {
    const out: OwnedLink[] = [];
    const collect = (ns: string | undefined, links: Iterable<Link>): void => {
      for (const l of links) {
        const m = parseAlias(l.alias);
        if (!m) continue;
        out.push({ netns: ns, name: l.name, kind: l.kind, slice: m.slice, link: m.link, index: l.index, up: l.up, mtu: l.mtu, master: l.master, group: l.group, stats: l.stats });
      }
    };
    collect(this.netns, (await readView(this.node, { stats: opts.stats ?? false }, opts.signal)).byName.values());
    for (const ns of namespaces) {
      if (netnsExists(ns)) collect(ns, (await readView(this.expSocket(ns), { stats: opts.stats ?? false }, opts.signal)).byName.values());
    }
    return out;
  }

  /** Close the sockets; the engine keeps forwarding (the next agent adopts it). */
  close(): void {
    this.eng.release();
    this.node.close();
    for (const s of this.exps.values()) s.close();
    this.exps.clear();
    for (const v of this.views.values()) v.close();
    this.views.clear();
  }
}

