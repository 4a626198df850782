// One node's kernel, as the agent sees it: reconcile a set of link
// endpoints (read each namespace once, plan, apply), list what visp owns,
// tear down by endpoint or by slice. Holds the netlink sockets: one in the
// node's namespace, one per experiment namespace it has touched, and the
// node's visp-engine (userspace tunnels), started on first need, adopted if
// it outlived an earlier agent, never stopped by close().
import { readlinkSync } from 'node:fs';
import type { EngineClient, EngineTunnelState } from '../dataplane/engine-client.js';
import { EngineProcess } from '../dataplane/engine-process.js';
import { IncompatibleStateError, NotFoundError } from '../errors.js';
import { linkDel, linkDelGroup, type Link, type LinkStats } from '../netlink/link.js';
import { netnsAdd, netnsExists, withNetnsFd } from '../netlink/netns.js';
import { NetlinkSocket } from '../netlink/socket.js';
import { aliasOf, parseAlias } from '../ownership.js';
import { assertSupported, probeCapabilities, type Capabilities } from '../tunnel/probe.js';
import { ENGINE_LINK_KIND } from '../tunnel/userspace.js';
import { endpointNames } from './names.js';
import { applySteps } from './apply.js';
import { describeStep, planEndpoint, type Step } from './plan.js';
import { emptyView, readView, type NsView } from './snapshot.js';
import { resolveEndpoint, type EndpointSpec, type ResolvedEndpoint } from './spec.js';

export interface EndpointResult {
  slice: string;
  link: string;
  /** The steps planned (and, unless dry run, applied), in words. */
  steps: string[];
  error?: Error;
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
  engine?: { runDir?: string; name?: string; binary?: string } | false;
  log?: (line: string) => void;
}

const keyOf = (s: { slice: string; link: string }): string => `${s.slice}/${s.link}`;

export class NodeKernel {
  readonly netns: string | undefined;
  private readonly node: NetlinkSocket;
  private readonly exps = new Map<string, NetlinkSocket>();
  private readonly opts: NodeKernelOptions;
  private engineProc: EngineProcess | undefined;
  /** Every endpoint reconciled here and not deleted since: whose engine tunnel is whose, and what to re-send to a restarted engine. */
  private readonly known = new Map<string, EndpointSpec>();
  /** Since a reconcile ran, `known` holds every endpoint still desired here (an agent reconciles all of them). */
  private reconciledOnce = false;
  /** Mutations (and an engine restart's re-send) one at a time. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(opts: NodeKernelOptions = {}) {
    this.opts = opts;
    this.netns = opts.netns;
    this.node = new NetlinkSocket(opts.netns ? { netns: opts.netns } : {});
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.tail.then(fn, fn);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** The node's engine process handle (not started), or undefined when this node kernel has none. */
  engine(): EngineProcess | undefined {
    if (this.engineProc || this.opts.engine === false) return this.engineProc;
    const o = this.opts.engine ?? {};
    // Not in a named namespace (an agent under nsenter, a real node): name it by the namespace's inode.
    const name = o.name ?? this.netns ?? `ns${/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1] ?? process.pid}`;
    try {
      this.engineProc = new EngineProcess({
        netns: name, enter: this.netns !== undefined,
        ...(o.runDir ? { runDir: o.runDir } : {}), ...(o.binary ? { binary: o.binary } : {}),
        onRestart: () => this.resend(),
        ...(this.opts.log ? { log: this.opts.log } : {}),
      });
    } catch { return undefined; }   // not built: userspace kinds are refused by the probe anyway
    return this.engineProc;
  }

  /** A connected client of the node's engine, starting (or adopting) it if needed. */
  private async engineClient(signal?: AbortSignal): Promise<EngineClient> {
    const e = this.engine();
    if (!e) throw new IncompatibleStateError('visp-engine is not available on this node', { field: 'kind' });
    if (!e.running) await e.start(signal);
    return e.client;
  }

  /** The engine's tunnels by name; with `start`, the engine is started if it is not running, otherwise none is started. */
  private async engineTunnels(start: boolean, signal?: AbortSignal): Promise<Map<string, EngineTunnelState>> {
    const e = this.engine();
    if (!e) return new Map();
    if (!start && !e.running && !(await e.adopt(signal))) return new Map();
    const c = start ? await this.engineClient(signal) : e.client;
    return new Map((await c.list(signal)).tunnels.map((t) => [t.name, t]));
  }

  /** A restarted engine has no tunnels: reconcile every known endpoint that has userspace ones (re-sends them, re-attaches the devices). */
  private async resend(): Promise<void> {
    const caps = await capabilities();
    const specs = [...this.known.values()].filter((s) => caps[s.kind]?.dataplane === 'userspace');
    const r = await this.reconcile(specs);
    for (const x of r) if (x.error) this.opts.log?.(`engine restart: ${x.slice}/${x.link}: ${x.error.message}`);
  }

  /** Stop the node's engine (its devices go with it): tests and node decommissioning, never an agent restart. */
  async stopEngine(): Promise<void> {
    const e = this.engine();
    if (e && (e.running || (await e.adopt()))) await e.stop();
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
    if (!o.dryRun) {
      for (const r of resolved) if (r) this.known.set(keyOf(r.spec), r.spec);
      this.reconciledOnce = true;
    }

    // The egress end of a link lives in the node namespace: no experiment namespace to create or read.
    const namespaces = [...new Set(resolved.filter((r) => r && !r.nodeSide).map((r) => r!.spec.netns))];
    for (const ns of namespaces) {
      if (netnsExists(ns)) continue;
      if (o.createNamespaces === false || o.dryRun) continue;
      // A socket cached for an earlier namespace of this name (deleted since) would still point at that one.
      this.forgetNamespace(ns);
      await netnsAdd(ns);
    }
    const needFdb = resolved.some((r) => r && r.fdb.length > 0);
    const needNodeAddrs = resolved.some((r) => r?.nodeSide);
    const nodeView = await readView(this.node, { fdb: needFdb, addrs: needNodeAddrs }, o.signal);
    // The engine's side of userspace tunnels (what the kernel cannot tell about a tun device).
    const userspace = (r: ResolvedEndpoint | undefined): boolean => !!r && r.tunnels.some((t) => t.dataplane === 'userspace');
    try {
      nodeView.engine = await this.engineTunnels(!o.dryRun && resolved.some(userspace), o.signal);
    } catch (e) {
      // No engine: the endpoints that need it fail, the others go ahead.
      resolved.forEach((r, i) => { if (userspace(r)) { results[i]!.error = e as Error; resolved[i] = undefined; } });
    }
    const expViews = new Map<string, NsView>();
    const routesIn = new Set(resolved.filter((r) => r && !r.nodeSide && r.routes.length).map((r) => r!.spec.netns));
    await Promise.all(namespaces.map(async (ns) => {
      expViews.set(ns, netnsExists(ns) ? await readView(this.expSocket(ns), { addrs: true, routes: routesIn.has(ns) }, o.signal) : emptyView());
    }));

    const plans: Array<Step[] | undefined> = resolved.map((r, i) => {
      if (!r) return undefined;
      try {
        const steps = planEndpoint(r, nodeView, r.nodeSide ? nodeView : expViews.get(r.spec.netns)!);
        results[i]!.steps = steps.map((s) => describeStep(s, r));
        return steps;
      } catch (e) { results[i]!.error = e as Error; return undefined; }
    });
    if (o.dryRun) return results;

    // Apply, endpoints in parallel (their messages share datagrams), each endpoint's steps in order.
    const work = resolved.map((r, i) => ({ r, i })).filter(({ i }) => (plans[i]?.length ?? 0) > 0);
    const limit = o.concurrency ?? 256;
    const engine = (): Promise<EngineClient> => this.engineClient(o.signal);
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
        } catch (e) { results[i]!.error = e as Error; }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, work.length) }, worker));
    return results;
  }

  /** Remove one endpoint's objects (by name, only if they carry its mark). */
  deleteEndpoint(spec: EndpointSpec, signal?: AbortSignal): Promise<string[]> {
    return this.serial(() => this.deleteEndpointNow(spec, signal));
  }

  private async deleteEndpointNow(spec: EndpointSpec, signal?: AbortSignal): Promise<string[]> {
    const r = resolveEndpoint(spec);
    const alias = aliasOf(r.mark);
    const removed: string[] = [];
    // Its engine tunnels first, by name (a device the engine holds only goes when the engine closes it; a moved TUN is not in this namespace).
    const engine = await this.engineTunnels(false, signal);
    for (const t of r.tunnels) {
      if (!engine.has(t.name)) continue;
      await this.engine()!.client.deleteTunnel(t.name, signal);
      removed.push(`${t.name} (userspace)`);
    }
    this.known.delete(keyOf(spec));
    const nodeView = await readView(this.node, {}, signal);
    for (const l of nodeView.byName.values()) {
      if (l.alias !== alias) continue;
      if (l.kind === ENGINE_LINK_KIND && engine.has(l.name)) await this.engine()!.client.deleteTunnel(l.name, signal);
      else await linkDel(this.node, { index: l.index }, signal);
      removed.push(l.name);
    }
    if (!r.nodeSide && netnsExists(r.spec.netns)) {
      const exp = this.expSocket(r.spec.netns);
      for (const l of (await readView(exp, {}, signal)).byName.values()) {
        if (l.alias !== alias) continue;
        await linkDel(exp, { index: l.index }, signal);
        removed.push(`${r.spec.netns}:${l.name}`);
      }
    }
    return removed;
  }

  /**
   * Delete our links in the node namespace whose slice/link `keep` rejects
   * (a lost teardown, a controller that forgot). Returns what went.
   */
  prune(keep: (slice: string, link: string) => boolean, signal?: AbortSignal): Promise<string[]> {
    return this.serial(() => this.pruneNow(keep, signal));
  }

  /**
   * Engine tunnels too: by the mark on their device in the node namespace;
   * otherwise (a moved TUN, a device deleted by hand) by the endpoint that
   * was reconciled here; one that no endpoint claims, once a reconcile has
   * shown what is desired, is an orphan and goes.
   */
  private async pruneNow(keep: (slice: string, link: string) => boolean, signal?: AbortSignal): Promise<string[]> {
    const gone: string[] = [];
    const engine = await this.engineTunnels(false, signal);
    const view = await readView(this.node, {}, signal);
    for (const l of view.byName.values()) {
      const m = parseAlias(l.alias);
      if (!m || keep(m.slice, m.link)) continue;
      if (l.kind === ENGINE_LINK_KIND && engine.has(l.name)) await this.engine()!.client.deleteTunnel(l.name, signal);
      else await linkDel(this.node, { index: l.index }, signal);
      engine.delete(l.name);
      gone.push(`${l.name} (${m.slice}/${m.link})`);
    }
    const owners = this.engineOwners();
    for (const name of engine.keys()) {
      if (view.byName.has(name)) continue;   // its device is here: judged by its mark above
      const o = owners.get(name);
      if (o ? keep(o.slice, o.link) : !this.reconciledOnce) continue;
      await this.engine()!.client.deleteTunnel(name, signal);
      if (o) this.known.delete(keyOf(o));
      gone.push(`${name} (userspace${o ? `, ${keyOf(o)}` : ', no endpoint'})`);
    }
    for (const [k, s] of this.known) if (!keep(s.slice, s.link)) this.known.delete(k);
    return gone;
  }

  /** Tear down a whole slice: one group delete per namespace. */
  deleteSlice(group: number, namespaces: readonly string[], signal?: AbortSignal): Promise<void> {
    if (!Number.isInteger(group) || group < 1) return Promise.reject(new IncompatibleStateError(`deleteSlice: group ${group} is not a visp slice group`, { field: 'group' }));
    return this.serial(() => this.deleteSliceNow(group, namespaces, signal));
  }

  private async deleteSliceNow(group: number, namespaces: readonly string[], signal?: AbortSignal): Promise<void> {
    // The engine's tunnels of the slice first: a group delete does not reach
    // the engine (its devices only go when it closes them), and a device
    // deleted under it would leave it holding a dead one.
    const engine = await this.engineTunnels(false, signal);
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
      for (const name of doomed) if (engine.has(name)) await this.engine()!.client.deleteTunnel(name, signal);
    }
    for (const [k, s] of this.known) if (s.group === group) this.known.delete(k);
    await linkDelGroup(this.node, group, signal);
    for (const ns of namespaces) if (netnsExists(ns)) await linkDelGroup(this.expSocket(ns), group, signal);
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
    this.engineProc?.release();
    this.node.close();
    for (const s of this.exps.values()) s.close();
    this.exps.clear();
  }
}

