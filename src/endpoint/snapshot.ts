// What one namespace looks like, read in a few dumps: links by name and
// index, addresses per interface, VXLAN head-end-replication entries. Plans
// are computed against a snapshot, so reconciling N endpoints costs a
// constant number of dumps, and a no-op reconcile writes nothing.
import { AF, RTPROT_VISP, RT_TABLE } from '../netlink/constants.js';
import { routeList } from '../netlink/route.js';
import { addrList } from '../netlink/addr.js';
import { linkList, type Link } from '../netlink/link.js';
import { neighList, ZERO_MAC } from '../netlink/neigh.js';
import type { NetlinkSocket } from '../netlink/socket.js';
import type { EngineTunnelState } from '../dataplane/engine-client.js';
import { qdiscList, type Qdisc } from '../netlink/tc.js';
import { readIngress, type IngressRule } from '../bridge/redirect.js';
import { PORT_PREFIXES } from './names.js';

export interface NsView {
  byName: Map<string, Link>;
  byIndex: Map<number, Link>;
  /** Links by ownership alias, so planning N endpoints is O(N), not O(N × links). */
  byAlias: Map<string, Link[]>;
  /** ifindex → CIDRs, link-local IPv6 left out (the kernel owns those). */
  addrs: Map<number, string[]>;
  /** ifindex → remote underlay addresses of all-zero-MAC FDB entries. */
  fdb: Map<number, Set<string>>;
  /** ifindex → our routes (main table, protocol visp) through that interface. */
  routes: Map<number, Array<{ dst: string; via: string }>>;
  /** Node namespace only: visp-engine's tunnels by name (empty when no engine runs). */
  engine: Map<string, EngineTunnelState>;
  /** ifindex → its qdiscs, when they were read (shaping is then checked; not read: not checked). */
  qdiscs?: Map<number, Qdisc[]>;
  /**
   * When read: ifindex → the filters at its clsact ingress, for visp's
   * devices (tunnels, veth host ends) that have a clsact; a device not in
   * the map has none. Redirect joins are checked against it.
   */
  ingress?: Map<number, IngressRule[]>;
}

export const emptyView = (): NsView => ({ byName: new Map(), byIndex: new Map(), byAlias: new Map(), addrs: new Map(), fdb: new Map(), routes: new Map(), engine: new Map() });

/** Add a link to a view (all indexes). */
export function addLink(v: NsView, l: Link): void {
  v.byName.set(l.name, l);
  v.byIndex.set(l.index, l);
  if (l.alias) {
    const list = v.byAlias.get(l.alias);
    if (list) list.push(l);
    else v.byAlias.set(l.alias, [l]);
  }
}

const ours = (name: string | undefined): boolean => !!name && (name.startsWith(PORT_PREFIXES.tunnel) || name.startsWith(PORT_PREFIXES.vethHost));

export async function readView(s: NetlinkSocket, what: { addrs?: boolean; fdb?: boolean; stats?: boolean; routes?: boolean; qdiscs?: boolean; joins?: boolean } = {}, signal?: AbortSignal): Promise<NsView> {
  const v = emptyView();
  const [links, addrs, fdb, r4, r6, qdiscs] = await Promise.all([
    linkList(s, { stats: what.stats ?? false, ...(signal ? { signal } : {}) }),
    what.addrs ? addrList(s, signal) : Promise.resolve([]),
    what.fdb ? neighList(s, AF.BRIDGE, signal) : Promise.resolve([]),
    what.routes ? routeList(s, AF.INET, signal) : Promise.resolve([]),
    what.routes ? routeList(s, AF.INET6, signal) : Promise.resolve([]),
    what.qdiscs || what.joins ? qdiscList(s, signal ? { signal } : {}) : Promise.resolve(undefined),
  ]);
  for (const l of links) addLink(v, l);
  if (what.joins) {
    // One dump per clsact on a visp device: only a pass that reads anyway (something changed) pays it.
    v.ingress = new Map();
    const hooked = (qdiscs ?? []).filter((q) => q.kind === 'clsact' && ours(v.byIndex.get(q.index)?.name));
    await Promise.all(hooked.map(async (q) => { v.ingress!.set(q.index, await readIngress(s, q.index, signal)); }));
  }
  if (qdiscs && what.qdiscs) {
    v.qdiscs = new Map();
    for (const q of qdiscs) {
      const list = v.qdiscs.get(q.index);
      if (list) list.push(q);
      else v.qdiscs.set(q.index, [q]);
    }
  }
  for (const r of [...r4, ...r6]) {
    if (r.protocol !== RTPROT_VISP || r.table !== RT_TABLE.MAIN || r.oif === undefined || !r.gateway) continue;
    const list = v.routes.get(r.oif) ?? [];
    list.push({ dst: r.dst, via: r.gateway });
    v.routes.set(r.oif, list);
  }
  for (const a of addrs) {
    if (a.family === AF.INET6 && a.address.startsWith('fe80:')) continue;
    const list = v.addrs.get(a.index) ?? [];
    list.push(a.cidr);
    v.addrs.set(a.index, list);
  }
  for (const n of fdb) {
    if (n.mac !== ZERO_MAC || !n.dst) continue;
    const set = v.fdb.get(n.index) ?? new Set<string>();
    set.add(n.dst);
    v.fdb.set(n.index, set);
  }
  return v;
}
