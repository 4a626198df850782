// One node's kernel, as the agent sees it: reconcile a set of link
// endpoints (read each namespace once, plan, apply), list what visp owns,
// tear down by endpoint or by slice. Holds the netlink sockets: one in the
// node's namespace, one per experiment namespace it has touched.
import { IncompatibleStateError, NotFoundError } from '../errors.js';
import { linkDel, linkDelGroup, type Link, type LinkStats } from '../netlink/link.js';
import { netnsAdd, netnsExists, withNetnsFd } from '../netlink/netns.js';
import { NetlinkSocket } from '../netlink/socket.js';
import { aliasOf, parseAlias } from '../ownership.js';
import { assertSupported, probeCapabilities, type Capabilities } from '../tunnel/probe.js';
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

export class NodeKernel {
  readonly netns: string | undefined;
  private readonly node: NetlinkSocket;
  private readonly exps = new Map<string, NetlinkSocket>();

  constructor(opts: { netns?: string } = {}) {
    this.netns = opts.netns;
    this.node = new NetlinkSocket(opts.netns ? { netns: opts.netns } : {});
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
    const results: EndpointResult[] = specs.map((s) => ({ slice: s.slice, link: s.link, steps: [] }));
    const resolved: Array<ResolvedEndpoint | undefined> = specs.map((s, i) => {
      try { return resolveEndpoint(s); } catch (e) { results[i]!.error = e as Error; return undefined; }
    });
    const caps = resolved.some(Boolean) ? await capabilities() : undefined;
    resolved.forEach((r, i) => {
      if (!r) return;
      try { assertSupported(caps!, r.spec.kind); } catch (e) { results[i]!.error = e as Error; resolved[i] = undefined; }
    });

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
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < work.length) {
        const { r, i } = work[next++]!;
        const ns = r!.spec.netns;
        if (r!.nodeSide) {
          // No experiment namespace: nothing is moved (no fd needed), addresses go on the bridge.
          try { await applySteps(r!, plans[i]!, { node: this.node, exp: this.node, expFd: -1, ...(o.signal ? { signal: o.signal } : {}) }); } catch (e) { results[i]!.error = e as Error; }
          continue;
        }
        if (!netnsExists(ns)) { results[i]!.error = new NotFoundError(`experiment namespace ${ns} does not exist`, { field: 'netns' }); continue; }
        try {
          await withNetnsFd(ns, (fd) => applySteps(r!, plans[i]!, { node: this.node, exp: this.expSocket(ns), expFd: fd, ...(o.signal ? { signal: o.signal } : {}) }));
        } catch (e) { results[i]!.error = e as Error; }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, work.length) }, worker));
    return results;
  }

  /** Remove one endpoint's objects (by name, only if they carry its mark). */
  async deleteEndpoint(spec: EndpointSpec, signal?: AbortSignal): Promise<string[]> {
    const r = resolveEndpoint(spec);
    const alias = aliasOf(r.mark);
    const removed: string[] = [];
    const nodeView = await readView(this.node, {}, signal);
    for (const l of nodeView.byName.values()) {
      if (l.alias !== alias) continue;
      await linkDel(this.node, { index: l.index }, signal);
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
  async prune(keep: (slice: string, link: string) => boolean, signal?: AbortSignal): Promise<string[]> {
    const gone: string[] = [];
    for (const l of (await readView(this.node, {}, signal)).byName.values()) {
      const m = parseAlias(l.alias);
      if (!m || keep(m.slice, m.link)) continue;
      await linkDel(this.node, { index: l.index }, signal);
      gone.push(`${l.name} (${m.slice}/${m.link})`);
    }
    return gone;
  }

  /** Tear down a whole slice: one group delete per namespace. */
  async deleteSlice(group: number, namespaces: readonly string[], signal?: AbortSignal): Promise<void> {
    if (!Number.isInteger(group) || group < 1) throw new IncompatibleStateError(`deleteSlice: group ${group} is not a visp slice group`, { field: 'group' });
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

  close(): void {
    this.node.close();
    for (const s of this.exps.values()) s.close();
    this.exps.clear();
  }
}

