// The egress node's data path: every slice with egress gets its own routing
// table on the egress node, and policy rules steer all of the slice's
// traffic into it — never into the node's main table (kube-router#584 lost a
// node's default route by writing there).
//
// Per slice, in the egress node's namespace (IPv4 and IPv6 alike):
//
//   rule  10000: from <block> lookup T        rule  10000: to <block> lookup T
//   rule  10001: from <block> unreachable     rule  10001: to <block> unreachable
//   table T:     <slice next hop>/32 (/128) dev <egress device>
//                <block> via <slice next hop> dev <egress device>
//                + the provider routes the slice asked for, each via the
//                  provider's next hop: `default` = 0.0.0.0/0 and ::/0 only,
//                  `full` = every best path learned from the providers
//
// The next hop's own host route is what lets the block route be put back.
// The kernel checks a gateway route's next hop by looking the gateway up,
// first in the route's table, then through the policy rules; the slice's
// next hop (its router's address on the egress link) lies inside the
// slice's block, so once our rules exist that lookup goes `to <block>
// lookup T` (no connected route in T) and then hits the guard: the kernel
// refused the block route with ENETUNREACH (IPv6: EHOSTUNREACH). The first
// build worked only because it added routes before rules; once the route
// was gone (the bridge was recreated or went down, a flush by hand) it
// could never be added again, and the slice stayed announced with no way
// in. With the host route in T the lookup finds the next hop on the egress
// device, whatever the rules say.
//
// The 10001 "guard" rules stop the fall-through: when T has no route for a
// packet (the provider withdrew the default), the lookup would otherwise go
// on to the main table and the slice's traffic would leave by the node's own
// default route. With the guard it is unreachable instead.
//
// Table ids: T is the slice's link-group id (IPAM gives each slice a unique
// one, never below 4096), so it is never the main (254), local (255) or
// default (253) table, nor the small numbers people use by hand. Ours are
// told apart by protocol RTPROT_VISP on routes and rules, plus: routes only
// in tables of the range (4096…2^32-1 unless told), lookup rules only to
// tables of the range, guard rules only at priority 10001. Nothing else is
// ever read as ours, changed or deleted; the main and local tables are
// never written (every write is checked against the range).
//
// What is not in place after a reconcile is said per block (status():
// `blocksMissing`, with the reason): its next hop's or its own route not
// installed (the egress device missing or down, a route of someone else's
// at that place in T: never overwritten) or one of its rules not added. The
// agent withdraws such a block's announcement and reports the slice's
// egress endpoint as not ready until a later reconcile puts it back.
//
// Reconcile is dump → diff → apply, so it is idempotent and restart-safe:
// a new SliceTables over a namespace an earlier one built adopts what is
// there without a single write. Provider routes it cannot know about yet (a
// restarted agent before its best-path watch delivered the RIB) are kept
// until `replaceProviderRoutes` says what the full set is.
//
// Forwarding (ipv4 and ipv6 `conf/all/forwarding`) is switched on in the
// egress node's namespace: with `netns`, through nsenter into it; without,
// in the caller's own namespace (the agent runs inside the node's).
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { InvalidSpecError, KernelError } from '../errors.js';
import { overlaps, parseAddress, parsePrefix, type Family, type Prefix } from '../ipam/prefix.js';
import { RTPROT_VISP, RT_TABLE } from '../netlink/constants.js';
import { bytesToIp, ipToBytes, parseCidr } from '../netlink/codec.js';
import { linkList } from '../netlink/link.js';
import { routeDel, routeList, routeReplace, type Route, type RouteSpec } from '../netlink/route.js';
import { ruleAdd, ruleDel, ruleList, type Rule, type RuleSpec } from '../netlink/rule.js';
import { NetlinkSocket, netnsPath } from '../netlink/socket.js';
import type { ProviderRoute, RouteChange } from './watch.js';

const run = promisify(execFile);

/** Priority of the `from/to <block> lookup T` rules (before main's 32766). */
export const SLICE_RULE_PRIORITY = 10000;
/** Priority of the `from/to <block> unreachable` guard rules, right after. */
export const SLICE_GUARD_PRIORITY = 10001;
/** Table ids SliceTables may own: link-group ids (IPAM starts them at 4096). */
export const SLICE_TABLE_RANGE: Readonly<{ first: number; last: number }> = { first: 4096, last: 0xffffffff };

export type SliceRoutes = 'default' | 'full';

/** One slice's egress on this node (the agent's EgressSliceDesired fits as is). */
export interface SliceTableSpec {
  slice: string;
  /** Its routing table here: the slice's link-group id. */
  table: number;
  /** The slice's public blocks (IPv4 and/or IPv6). */
  blocks: string[];
  /** The slice router's address on the egress link (one per family) and the egress device here. */
  nextHops: Array<{ family?: Family; address: string; dev: string }>;
  routes: SliceRoutes;
}

export interface SliceTablesOptions {
  /** The egress node's namespace (a name under /run/netns or a path); the caller's own when undefined. */
  netns?: string;
  /** A socket into that namespace to use (not closed by us); one is opened otherwise. */
  socket?: NetlinkSocket;
  /** Table ids that may be ours (default SLICE_TABLE_RANGE). */
  tables?: { first: number; last: number };
  /** Switch forwarding on in the namespace (default true). */
  forwarding?: boolean;
  log?: (line: string) => void;
}

export interface SliceTableStatus {
  slice: string;
  table: number;
  /** Provider routes in its table now. */
  routesInstalled: number;
  /** Provider routes it asked for that are not installed, and why. */
  skipped: Array<{ prefix: string; reason: string }>;
  /**
   * Its blocks whose data path is not in place after the last reconcile, and
   * why: the route to the slice (or to its next hop) not installed (the
   * egress device missing or down, someone else's route in its place), or
   * one of the block's rules not added. Such a block cannot carry traffic.
   */
  blocksMissing: Array<{ prefix: string; reason: string }>;
}

type Fam = 2 | 10;
const FAM: Record<Family, Fam> = { ipv4: 2, ipv6: 10 };

export interface ResolvedSlice {
  slice: string;
  table: number;
  blocks: Array<{ cidr: string; family: Fam }>;
  nextHop: Map<Fam, { address: string; dev: string }>;
  families: Set<Fam>;
  routes: SliceRoutes;
}

const canon = (cidr: string): string => { const c = parseCidr(cidr); return `${c.address}/${c.prefixlen}`; };
const canonIp = (ip: string): string => bytesToIp(ipToBytes(ip));

/** Validate (errors name the field) and canonicalize. */
export function resolveSliceTables(slices: readonly SliceTableSpec[], range = SLICE_TABLE_RANGE): ResolvedSlice[] {
  if (!Array.isArray(slices)) throw new InvalidSpecError('slices: expected a list', { field: 'slices' });
  const tables = new Map<number, string>();
  const names = new Set<string>();
  const allBlocks: Array<{ p: Prefix; text: string; slice: string }> = [];
  return slices.map((s, i) => {
    const f = `slices[${i}]`;
    if (typeof s.slice !== 'string' || s.slice === '') throw new InvalidSpecError(`${f}.slice: a name is required`, { field: `${f}.slice` });
    if (names.has(s.slice)) throw new InvalidSpecError(`${f}.slice: ${s.slice} listed twice`, { field: `${f}.slice` });
    names.add(s.slice);
    if (!Number.isInteger(s.table) || s.table < range.first || s.table > range.last || isReservedTable(s.table)) {
      throw new InvalidSpecError(`${f}.table: ${s.table} is outside the slice table range ${range.first}..${range.last}`, { field: `${f}.table` });
    }
    const other = tables.get(s.table);
    if (other !== undefined) throw new InvalidSpecError(`${f}.table: ${s.table} is already the table of slice ${other}`, { field: `${f}.table` });
    tables.set(s.table, s.slice);
    if (s.routes !== 'default' && s.routes !== 'full') throw new InvalidSpecError(`${f}.routes: "default" or "full", got ${JSON.stringify(s.routes)}`, { field: `${f}.routes` });
    const blockList: readonly string[] = Array.isArray(s.blocks) ? s.blocks : [];
    const nextHops: SliceTableSpec['nextHops'] = Array.isArray(s.nextHops) ? s.nextHops : [];
    if (blockList.length === 0) throw new InvalidSpecError(`${f}.blocks: at least one block is required`, { field: `${f}.blocks` });
    const nextHop = new Map<Fam, { address: string; dev: string }>();
    nextHops.forEach((nh, j) => {
      const nf = `${f}.nextHops[${j}]`;
      const a = parseAddress(nh.address, `${nf}.address`);
      if (nh.family !== undefined && nh.family !== a.family) throw new InvalidSpecError(`${nf}.family: ${nh.family} but ${nh.address} is ${a.family}`, { field: `${nf}.family` });
      if (typeof nh.dev !== 'string' || nh.dev === '' || Buffer.byteLength(nh.dev) > 15 || /[\s/]/.test(nh.dev)) {
        throw new InvalidSpecError(`${nf}.dev: ${JSON.stringify(nh.dev)} is not an interface name`, { field: `${nf}.dev` });
      }
      if (nextHop.has(FAM[a.family])) throw new InvalidSpecError(`${nf}: a second ${a.family} next hop`, { field: nf });
      nextHop.set(FAM[a.family], { address: canonIp(nh.address), dev: nh.dev });
    });
    const blocks = blockList.map((b, j) => {
      const bf = `${f}.blocks[${j}]`;
      const p = parsePrefix(b, bf);
      if (!nextHop.has(FAM[p.family])) throw new InvalidSpecError(`${f}.nextHops: no ${p.family} next hop for block ${b}`, { field: `${f}.nextHops` });
      const clash = allBlocks.find((x) => overlaps(x.p, p));
      if (clash) throw new InvalidSpecError(`${bf}: ${b} overlaps ${clash.text} of slice ${clash.slice}`, { field: bf });
      allBlocks.push({ p, text: b, slice: s.slice });
      return { cidr: canon(b), family: FAM[p.family] };
    });
    return { slice: s.slice, table: s.table, blocks, nextHop, families: new Set(blocks.map((b) => b.family)), routes: s.routes };
  });
}

const isReservedTable = (t: number): boolean => t === RT_TABLE.UNSPEC || t === 253 || t === RT_TABLE.MAIN || t === RT_TABLE.LOCAL;

/** Whether a provider route belongs in a slice's table: its route spec, a reason to skip it, or undefined (not asked for). */
export function providerRouteFor(s: ResolvedSlice, r: ProviderRoute): { spec: RouteSpec } | { skip: string } | undefined {
  let dst: { address: string; prefixlen: number; family: number };
  try { dst = parseCidr(r.prefix); } catch { return { skip: `prefix ${JSON.stringify(r.prefix)} is not an IP prefix` }; }
  const fam = dst.family as Fam;
  if (!s.families.has(fam)) return undefined; // the slice has no block of this family: nothing of it would use the route
  if (s.routes === 'default' && dst.prefixlen !== 0) return undefined;
  const cidr = `${dst.address}/${dst.prefixlen}`;
  if (s.blocks.some((b) => b.cidr === cidr)) return { skip: 'it is the slice\'s own block' };
  // (GoBGP's import policy already rejects these; a route inside the block would take the slice's own traffic out again.)
  if (s.blocks.some((b) => b.family === fam && dst.prefixlen > Number(b.cidr.split('/')[1]) && overlaps(parsePrefix(b.cidr, 'block'), parsePrefix(cidr, 'prefix')))) {
    return { skip: 'it is inside the slice\'s own block' };
  }
  if ([...s.nextHop.values()].some((n) => hostCidr(n.address) === cidr)) return { skip: 'it is the slice\'s next hop' };
  if (!r.nextHop) return { skip: `no next hop (from ${r.neighbor || 'unknown neighbour'})` };
  let nh: string;
  try { nh = canonIp(r.nextHop); } catch { return { skip: `next hop ${JSON.stringify(r.nextHop)} is not an address` }; }
  const nhFam: Fam = nh.includes(':') ? 10 : 2;
  if (nhFam !== fam) return { skip: `next hop ${nh} is of the other address family` };
  if (nh === '0.0.0.0' || nh === '::') return { skip: `next hop ${nh} is unspecified` };
  return { spec: { dst: cidr, gateway: nh, table: s.table, protocol: RTPROT_VISP } };
}

const blockRoute = (s: ResolvedSlice, b: { cidr: string; family: Fam }, oif: number): RouteSpec => {
  const nh = s.nextHop.get(b.family)!;
  return { dst: b.cidr, gateway: nh.address, oif, table: s.table, protocol: RTPROT_VISP };
};

/** The next hop's host route in T (link scope, on the egress device): what the kernel checks the block route's gateway against. */
const nextHopRoute = (s: ResolvedSlice, fam: Fam, oif: number): RouteSpec =>
  ({ dst: hostCidr(s.nextHop.get(fam)!.address), oif, table: s.table, protocol: RTPROT_VISP });
const hostCidr = (ip: string): string => `${ip}/${ip.includes(':') ? 128 : 32}`;
/** The metric the kernel gives a route without one (IPv6 user routes: 1024). */
const defaultMetric = (family: number): number => (family === 10 ? 1024 : 0);

function sliceRules(s: ResolvedSlice): RuleSpec[] {
  return s.blocks.flatMap((b) => [
    { src: b.cidr, table: s.table, priority: SLICE_RULE_PRIORITY, protocol: RTPROT_VISP },
    { dst: b.cidr, table: s.table, priority: SLICE_RULE_PRIORITY, protocol: RTPROT_VISP },
    { src: b.cidr, action: 'unreachable' as const, priority: SLICE_GUARD_PRIORITY, protocol: RTPROT_VISP },
    { dst: b.cidr, action: 'unreachable' as const, priority: SLICE_GUARD_PRIORITY, protocol: RTPROT_VISP },
  ]);
}

const ruleKey = (r: RuleSpec | Rule): string => {
  const family = r.family ?? parseCidr((r.src ?? r.dst)!).family;
  const action = r.action ?? 'lookup';
  return `${family} ${r.priority} from ${r.src ?? 'all'} to ${r.dst ?? 'all'} ${action}${action === 'lookup' ? ` ${r.table}` : ''}`;
};
const routeKey = (table: number, dst: string): string => `${table} ${dst}`;
const describeRoute = (r: RouteSpec, dev?: string): string => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}${dev ? ` dev ${dev}` : ''} table ${r.table}`;

/** Errors that mean "this next hop is not usable here", not "the kernel is broken". */
const UNUSABLE = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'EINVAL', 'ENODEV', 'EADDRNOTAVAIL', 'ENETDOWN']);

export class SliceTables {
  readonly netns: string | undefined;
  private readonly s: NetlinkSocket;
  private readonly ownSocket: boolean;
  private readonly range: { first: number; last: number };
  private readonly wantForwarding: boolean;
  private forwardingOn = false;
  private readonly log: (line: string) => void;
  private desired: ResolvedSlice[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  /** Best provider route per prefix (from the watch). */
  private readonly provider = new Map<string, ProviderRoute>();
  /** False until replaceProviderRoutes: provider routes we do not know about are kept, not deleted. */
  private providerComplete = false;
  /** Provider-route changes not yet applied (prefix → route, undefined = withdrawn). */
  private pending = new Map<string, ProviderRoute | undefined>();
  private drainQueued = false;
  /** Our provider routes in the kernel: route key → gateway. */
  private readonly installed = new Map<string, string>();
  private readonly skipped = new Map<string, { slice: string; prefix: string; reason: string }>();
  private readonly missingBlocks = new Map<string, { slice: string; prefix: string; reason: string }>();
  /** Route and rule writes sent (adds, replaces, deletes): a no-op reconcile sends none. */
  writes = 0;
  /** The last error of a background provider-route update (the next reconcile repairs). */
  lastError: Error | undefined;

  constructor(opts: SliceTablesOptions = {}) {
    this.netns = opts.netns ?? opts.socket?.netns;
    this.ownSocket = !opts.socket;
    this.s = opts.socket ?? new NetlinkSocket(opts.netns ? { netns: opts.netns } : {});
    this.range = opts.tables ?? SLICE_TABLE_RANGE;
    if (!Number.isInteger(this.range.first) || !Number.isInteger(this.range.last) || this.range.first < 256 || this.range.last > 0xffffffff || this.range.first > this.range.last) {
      throw new InvalidSpecError(`tables: ${this.range.first}..${this.range.last} is not a range within 256..4294967295`, { field: 'tables' });
    }
    this.wantForwarding = opts.forwarding ?? true;
    this.log = opts.log ?? (() => undefined);
  }

  /** The socket's netlink message counters (for tests and benchmarks). */
  get stats(): { messages: number; datagrams: number } { return this.s.stats; }

  /**
   * Replace the desired slices and reconcile; resolves with the steps taken
   * ([] when everything was in place). Invalid input is refused (an
   * InvalidSpecError naming the field) before anything is queued.
   */
  setDesired(slices: readonly SliceTableSpec[], signal?: AbortSignal): Promise<string[]> {
    let resolved: ResolvedSlice[];
    try { resolved = resolveSliceTables(slices, this.range); } catch (e) { return Promise.reject(e); }
    return this.enqueue(() => { this.desired = resolved; return this.reconcileNow(signal); });
  }

  /** Reconcile against the current desired state (repairs drift). */
  reconcile(signal?: AbortSignal): Promise<string[]> {
    return this.enqueue(() => this.reconcileNow(signal));
  }

  /** One change from watchProviderRoutes; applied in the background, batched with others queued meanwhile. */
  onProviderRoute(change: RouteChange): void {
    if (change.type === 'set') {
      this.provider.set(change.route.prefix, change.route);
      this.pending.set(change.route.prefix, change.route);
    } else {
      this.provider.delete(change.prefix);
      this.pending.set(change.prefix, undefined);
    }
    if (!this.drainQueued) {
      this.drainQueued = true;
      void this.enqueue(() => this.drain()).catch((e: Error) => {
        this.lastError = e;
        this.log(`slice tables: provider route update failed (next reconcile repairs): ${e.message}`);
      });
    }
  }

  /**
   * The complete set of provider routes (e.g. a watch's `routes` once its
   * initial dump arrived, after gobgpd restarted): replaces what is known and
   * reconciles; routes of prefixes not in it are removed from now on.
   */
  replaceProviderRoutes(routes: Iterable<ProviderRoute>, signal?: AbortSignal): Promise<string[]> {
    const next = [...routes];
    return this.enqueue(() => {
      this.provider.clear();
      for (const r of next) this.provider.set(r.prefix, r);
      this.pending.clear();
      this.providerComplete = true;
      return this.reconcileNow(signal);
    });
  }

  /** Resolves when every queued update has been applied. */
  async settled(): Promise<void> { for (let q = this.queue; ; q = this.queue) { await q.catch(() => undefined); if (q === this.queue && !this.drainQueued) return; } }

  status(): SliceTableStatus[] {
    const perTable = new Map<number, number>();
    for (const k of this.installed.keys()) { const t = Number(k.slice(0, k.indexOf(' '))); perTable.set(t, (perTable.get(t) ?? 0) + 1); }
    return this.desired.map((s) => ({
      slice: s.slice,
      table: s.table,
      routesInstalled: perTable.get(s.table) ?? 0,
      skipped: [...this.skipped.values()].filter((x) => x.slice === s.slice).map(({ prefix, reason }) => ({ prefix, reason })),
      blocksMissing: [...this.missingBlocks.values()].filter((x) => x.slice === s.slice).map(({ prefix, reason }) => ({ prefix, reason })),
    }));
  }

  close(): void { if (this.ownSocket) this.s.close(); }

  // ---- internals ------------------------------------------------------------

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private ours(table: number): boolean { return table >= this.range.first && table <= this.range.last && !isReservedTable(table); }

  private guardTable(table: number | undefined, what: string): void {
    if (table === undefined || !this.ours(table)) throw new Error(`slice tables: refusing to write ${what} outside the slice table range`);
  }

  private async writeRoute(r: RouteSpec, signal?: AbortSignal): Promise<void> {
    this.guardTable(r.table, describeRoute(r));
    this.writes++;
    await routeReplace(this.s, r, signal);
  }

  private async deleteRoute(r: RouteSpec, signal?: AbortSignal): Promise<void> {
    this.guardTable(r.table, `delete of ${r.dst}`);
    this.writes++;
    await routeDel(this.s, r, signal);
  }

  /**
   * Our routes (protocol visp, in the table range), and the routes of
   * someone else's in those tables: key → the one the kernel prefers (the
   * lowest metric). Those are never written over.
   */
  private async readRoutes(signal?: AbortSignal): Promise<{ ours: Map<string, Route>; foreign: Map<string, Route> }> {
    const ours = new Map<string, Route>();
    const foreign = new Map<string, Route>();
    for (const fam of [2, 10] as const) {
      for (const r of await routeList(this.s, fam, signal)) {
        if (!this.ours(r.table)) continue;
        const k = routeKey(r.table, r.dst);
        if (r.protocol === RTPROT_VISP) ours.set(k, r);
        else if ((r.metric ?? 0) < (foreign.get(k)?.metric ?? Infinity)) foreign.set(k, r);
      }
    }
    return { ours, foreign };
  }

  private async readRules(signal?: AbortSignal): Promise<Map<string, Rule>> {
    const out = new Map<string, Rule>();
    for (const r of await ruleList(this.s, 0, signal)) {
      if (r.protocol !== RTPROT_VISP || r.flags !== 0 || r.other.length > 0) continue;
      const mine = (r.action === 'lookup' && this.ours(r.table)) || (r.action === 'unreachable' && r.priority === SLICE_GUARD_PRIORITY);
      if (mine) out.set(ruleKey(r), r);
    }
    return out;
  }

  private async ensureForwarding(steps: string[]): Promise<void> {
    if (!this.wantForwarding || this.forwardingOn) return;
    const files = ['/proc/sys/net/ipv4/conf/all/forwarding', '/proc/sys/net/ipv6/conf/all/forwarding'];
    if (this.netns) {
      // /proc/sys/net is per network namespace: read and written from inside it.
      const script = files.map((f) => `[ "$(cat ${f})" = 1 ] || { echo 1 > ${f} && echo ${f}; }`).join('; ');
      const { stdout } = await run('nsenter', [`--net=${netnsPath(this.netns)}`, '--', 'sh', '-c', script]);
      for (const f of stdout.split('\n').filter(Boolean)) steps.push(`enable forwarding (${f.split('/')[4]})`);
    } else {
      for (const f of files) {
        if (readFileSync(f, 'utf8').trim() !== '1') { writeFileSync(f, '1\n'); steps.push(`enable forwarding (${f.split('/')[4]})`); }
      }
    }
    this.forwardingOn = true;
  }

  private async reconcileNow(signal?: AbortSignal): Promise<string[]> {
    const steps: string[] = [];
    // Changes queued before this reconcile are folded into it.
    this.pending.clear();
    await this.ensureForwarding(steps);
    const [{ ours: routes, foreign }, rules, links] = [await this.readRoutes(signal), await this.readRules(signal), await linkList(this.s, { signal })];
    const dev = new Map(links.map((l) => [l.name, l]));
    const byTable = new Map(this.desired.map((s) => [s.table, s]));
    this.skipped.clear();
    this.missingBlocks.clear();
    const fault = (s: ResolvedSlice, block: string, reason: string): void => {
      const k = `${s.slice} ${block}`;
      if (!this.missingBlocks.has(k)) this.missingBlocks.set(k, { slice: s.slice, prefix: block, reason });
    };
    /** Someone else's route at the place of ours (same table and destination, a metric the kernel would prefer or that ours would replace). */
    /** Keys of ours that someone else's route shadows: neither written nor removed. */
    const shadowed = new Set<string>();
    const occupied = (spec: RouteSpec, family: Fam): Route | undefined => {
      const k = routeKey(spec.table!, spec.dst);
      const f = foreign.get(k);
      if (!f || (f.metric ?? 0) > defaultMetric(family)) return undefined;
      shadowed.add(k);
      return f;
    };
    const occupiedReason = (f: Route): string => `table ${f.table} has a route to ${f.dst} that is not visp's (protocol ${f.protocol}); it is left alone`;

    // Desired routes, in two waves: each slice's next hop on its egress
    // device, then what goes via a next hop (the block routes, the
    // provider routes): the kernel checks a gateway against the table.
    type Want = { spec: RouteSpec; dev?: string; provider: boolean; slice: ResolvedSlice; blocks: string[] };
    const hops = new Map<string, Want>();
    const want = new Map<string, Want>();
    for (const s of this.desired) {
      for (const fam of s.families) {
        const nh = s.nextHop.get(fam)!;
        const blocks = s.blocks.filter((b) => b.family === fam).map((b) => b.cidr);
        const link = dev.get(nh.dev);
        if (!link) { for (const b of blocks) fault(s, b, `egress device ${nh.dev} does not exist`); continue; }
        const hop = nextHopRoute(s, fam, link.index);
        const taken = occupied(hop, fam);
        if (taken) { for (const b of blocks) fault(s, b, occupiedReason(taken)); } else hops.set(routeKey(s.table, hop.dst), { spec: hop, dev: nh.dev, provider: false, slice: s, blocks });
        for (const b of s.blocks.filter((x) => x.family === fam)) {
          const spec = blockRoute(s, b, link.index);
          const t = occupied(spec, fam);
          if (t) { fault(s, b.cidr, occupiedReason(t)); continue; }
          want.set(routeKey(s.table, b.cidr), { spec, dev: nh.dev, provider: false, slice: s, blocks: [b.cidr] });
        }
      }
      for (const r of this.provider.values()) {
        const d = providerRouteFor(s, r);
        if (!d) continue;
        if ('skip' in d) { this.skipped.set(`${s.slice} ${r.prefix}`, { slice: s.slice, prefix: r.prefix, reason: d.skip }); continue; }
        const k = routeKey(s.table, d.spec.dst);
        if (hops.has(k) || want.has(k)) { this.skipped.set(`${s.slice} ${r.prefix}`, { slice: s.slice, prefix: r.prefix, reason: 'the slice\'s own route has that destination' }); continue; }
        const t = occupied(d.spec, d.spec.dst.includes(':') ? 10 : 2);
        if (t) { this.skipped.set(`${s.slice} ${r.prefix}`, { slice: s.slice, prefix: r.prefix, reason: occupiedReason(t) }); continue; }
        want.set(k, { spec: d.spec, provider: true, slice: s, blocks: [] });
      }
    }

    // Routes first (so a slice's traffic is steered only into a filled table).
    const put = (wave: Map<string, Want>): Promise<unknown> => Promise.all([...wave].map(([k, w]) => {
      const have = routes.get(k);
      const same = have && have.gateway === w.spec.gateway && (w.spec.oif === undefined || have.oif === w.spec.oif) && have.type === 1;
      if (same) { if (w.provider) this.installed.set(k, w.spec.gateway!); return undefined; }
      return this.writeRoute(w.spec, signal).then(() => {
        steps.push(`${have ? 'replace' : 'add'} route ${describeRoute(w.spec, w.dev)}`);
        if (w.provider) this.installed.set(k, w.spec.gateway!);
      }, (e: unknown) => {
        const reason = this.unusable(e, w.spec, w.provider, w.slice, w.dev);
        for (const b of w.blocks) fault(w.slice, b, reason);
      });
    }));
    await put(hops);
    await put(want);

    // Rules: lookups, then guards; then the ones no longer desired. A rule
    // the kernel refuses leaves its block not in place (the others go on).
    const wantRules = new Map(this.desired.flatMap((s) => sliceRules(s).map((r) => [ruleKey(r), { r, s }] as const)));
    for (const action of ['lookup', 'unreachable']) {
      await Promise.all([...wantRules].filter(([k, { r }]) => (r.action ?? 'lookup') === action && !rules.has(k)).map(async ([, { r, s }]) => {
        if (action === 'lookup') this.guardTable(r.table, 'a rule');
        this.writes++;
        try {
          await ruleAdd(this.s, r, signal);
        } catch (e) {
          if (!(e instanceof KernelError)) throw e;
          fault(s, (r.src ?? r.dst)!, `the kernel refused rule ${ruleText(r)}: ${e.errnoName}`);
          this.log(`slice tables: rule ${ruleText(r)} refused: ${e.message}`);
          return;
        }
        steps.push(`add rule ${ruleText(r)}`);
      }));
    }
    await Promise.all([...rules].filter(([k]) => !wantRules.has(k)).map(async ([, r]) => {
      const spec: RuleSpec = { family: r.family as Fam, action: r.action as RuleSpec['action'], priority: r.priority, protocol: r.protocol };
      if (r.src) spec.src = r.src;
      if (r.dst) spec.dst = r.dst;
      if (r.action === 'lookup') spec.table = r.table;
      this.writes++;
      await ruleDel(this.s, spec, signal);
      steps.push(`delete rule ${ruleText(spec)}`);
    }));

    // Routes no longer desired. In a desired slice's table, a provider route
    // we have not been told about yet is kept until the full set is known.
    await Promise.all([...routes].filter(([k]) => !want.has(k) && !hops.has(k) && !shadowed.has(k)).map(async ([k, r]) => {
      const s = byTable.get(r.table);
      const isBlock = s?.blocks.some((b) => b.cidr === r.dst) ?? false;
      const unknownProvider = s && !isBlock && r.gateway !== undefined && !this.providerComplete && !this.provider.has(r.dst)
        && (s.routes === 'full' || parseCidr(r.dst).prefixlen === 0) && s.families.has(r.family as Fam);
      if (unknownProvider) { this.installed.set(k, r.gateway ?? ''); return; }
      const spec: RouteSpec = { dst: r.dst, table: r.table, protocol: RTPROT_VISP };
      if (r.gateway) spec.gateway = r.gateway;
      await this.deleteRoute(spec, signal);
      this.installed.delete(k);
      steps.push(`delete route ${r.dst}${r.gateway ? ` via ${r.gateway}` : ''} table ${r.table}`);
    }));
    for (const k of [...this.installed.keys()]) if (!want.has(k) && !routes.has(k)) this.installed.delete(k);
    for (const k of [...this.installed.keys()]) if (!byTable.has(Number(k.split(' ')[0]))) this.installed.delete(k);
    if (steps.length) this.log(`slice tables: ${steps.join('; ')}`);
    return steps;
  }

  /** A route the kernel refused: an unusable next hop is skipped with its reason (returned); anything else is an error. */
  private unusable(e: unknown, spec: RouteSpec, provider: boolean, s: ResolvedSlice, dev?: string): string {
    if (!(e instanceof KernelError) || !UNUSABLE.has(e.errnoName)) throw e;
    const reason = e.errnoName === 'ENETDOWN' && dev ? `egress device ${dev} is down (ENETDOWN)`
      : spec.gateway ? `the kernel refused next hop ${spec.gateway}: ${e.errnoName}` : `the kernel refused route ${spec.dst}${dev ? ` dev ${dev}` : ''}: ${e.errnoName}`;
    if (provider) this.skipped.set(`${s.slice} ${spec.dst}`, { slice: s.slice, prefix: spec.dst, reason });
    this.log(`slice tables: skip route ${describeRoute(spec, dev)} (${reason})`);
    return reason;
  }

  /** Apply the provider-route changes queued since the last drain. */
  private async drain(signal?: AbortSignal): Promise<string[]> {
    this.drainQueued = false;
    const changes = this.pending;
    this.pending = new Map();
    const steps: string[] = [];
    const ops: Array<Promise<void>> = [];
    for (const [prefix, route] of changes) {
      for (const s of this.desired) {
        let key: string;
        try { key = routeKey(s.table, canon(prefix)); } catch { continue; }
        const d = route ? providerRouteFor(s, route) : undefined;
        const skipKey = `${s.slice} ${prefix}`;
        this.skipped.delete(skipKey);
        if (d && 'spec' in d) {
          if (this.installed.get(key) === d.spec.gateway) continue;
          ops.push(this.writeRoute(d.spec, signal).then(() => {
            this.installed.set(key, d.spec.gateway!);
            steps.push(`replace route ${describeRoute(d.spec)}`);
          }, (e: unknown) => {
            this.unusable(e, d.spec, true, s);
            return this.installed.has(key) ? this.deleteInstalled(key, s.table, canon(prefix), steps, signal) : undefined;
          }));
          continue;
        }
        if (d && 'skip' in d) this.skipped.set(skipKey, { slice: s.slice, prefix, reason: d.skip });
        if (this.installed.has(key)) ops.push(this.deleteInstalled(key, s.table, canon(prefix), steps, signal));
      }
    }
    await Promise.all(ops);
    if (steps.length) this.log(`slice tables: ${steps.join('; ')}`);
    return steps;
  }

  private async deleteInstalled(key: string, table: number, dst: string, steps: string[], signal?: AbortSignal): Promise<void> {
    // With its gateway: routeDel encodes a gateway-less IPv4 route with link
    // scope, which would not match our universe-scope route (ESRCH = "gone").
    const gateway = this.installed.get(key);
    await this.deleteRoute({ dst, table, protocol: RTPROT_VISP, ...(gateway ? { gateway } : {}) }, signal);
    this.installed.delete(key);
    steps.push(`delete route ${dst} table ${table}`);
  }
}

const ruleText = (r: RuleSpec): string =>
  `${r.priority}: ${r.src ? `from ${r.src}` : `to ${r.dst}`} ${(r.action ?? 'lookup') === 'lookup' ? `lookup ${r.table}` : r.action}`;
