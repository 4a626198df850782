// Links (RTM_*LINK): create, modify, delete (one, or a whole group), get, dump.
// Kind-specific IFLA_INFO_DATA is opaque here: the tunnel/ and bridge/
// drivers encode and decode it; this file only knows the generic link.
import { AF, IFF, IFLA, IFLA_INET6_ADDR_GEN_MODE, IFLA_INFO, IN6_ADDR_GEN_MODE_NONE, NLM_F, RTEXT_FILTER, RTM, VETH_INFO_PEER } from './constants.js';
import {
  attr, bytesToMac, ifinfomsg, macToBytes, nested, parseAttrs, rawStr, readIfinfomsg, readStr, readU32, str, u32, u8,
} from './codec.js';
import type { NetlinkSocket } from './socket.js';
import { KernelError } from '../errors.js';

export interface LinkStats {
  rxPackets: number; txPackets: number; rxBytes: number; txBytes: number;
  rxErrors: number; txErrors: number; rxDropped: number; txDropped: number;
}

export interface Link {
  index: number;
  name: string;
  flags: number;
  up: boolean;
  mtu?: number;
  master?: number;
  /** IFLA_LINK: the lower/peer ifindex (a veth's peer, in the peer's namespace). */
  link?: number;
  group?: number;
  alias?: string;
  mac?: string;
  /** Set when the link's other side lives in another namespace (veth peer, x-netns tunnel). */
  linkNetnsid?: number;
  kind?: string;
  /** Raw IFLA_INFO_DATA payload; decode with the kind's driver. */
  infoData?: Buffer;
  slaveKind?: string;
  /** Raw IFLA_INFO_SLAVE_DATA payload (bridge port attributes for bridge ports). */
  slaveData?: Buffer;
  stats?: LinkStats;
}

export interface NewLink {
  name: string;
  kind: string;
  /** Encoded attributes for IFLA_INFO_DATA. */
  data?: Buffer[];
  mtu?: number;
  master?: number;
  group?: number;
  alias?: string;
  up?: boolean;
  mac?: string;
  /** Create the link directly in the namespace this fd refers to. */
  netnsFd?: number;
  /** veth: the peer, possibly in another namespace. */
  peer?: Omit<NewLink, 'kind' | 'data' | 'peer' | 'master'>;
}

export interface LinkChange {
  name?: string;
  mtu?: number;
  /** 0 detaches from the master. */
  master?: number;
  up?: boolean;
  alias?: string;
  group?: number;
  netnsFd?: number;
  /** Bridge port attributes etc.: IFLA_INFO_SLAVE_KIND + SLAVE_DATA. */
  slave?: { kind: string; data: Buffer[] };
  /**
   * No IPv6 link-local address on this device (addrgenmode none). Takes
   * effect for addresses generated after it, so set it before the link goes up.
   */
  noIpv6LinkLocal?: boolean;
}

function commonAttrs(l: Partial<NewLink> & LinkChange): Buffer[] {
  const a: Buffer[] = [];
  if (l.name !== undefined) a.push(attr(IFLA.IFNAME, str(l.name)));
  if (l.mtu !== undefined) a.push(attr(IFLA.MTU, u32(l.mtu)));
  if (l.master !== undefined) a.push(attr(IFLA.MASTER, u32(l.master)));
  if (l.group !== undefined) a.push(attr(IFLA.GROUP, u32(l.group)));
  if (l.alias !== undefined) a.push(attr(IFLA.IFALIAS, rawStr(l.alias)));
  if (l.mac !== undefined) a.push(attr(IFLA.ADDRESS, macToBytes(l.mac)));
  if (l.netnsFd !== undefined) a.push(attr(IFLA.NET_NS_FD, u32(l.netnsFd)));
  return a;
}

const upFlags = (up: boolean | undefined): { flags: number; change: number } =>
  up === undefined ? { flags: 0, change: 0 } : { flags: up ? IFF.UP : 0, change: IFF.UP };

export function encodeNewLink(l: NewLink): Buffer {
  const info: Buffer[] = [attr(IFLA_INFO.KIND, str(l.kind))];
  if (l.data) info.push(nested(IFLA_INFO.DATA, l.data));
  if (l.peer) {
    // veth peer: struct ifinfomsg followed by the peer's own attributes.
    const p = l.peer;
    info.push(nested(IFLA_INFO.DATA, [attr(VETH_INFO_PEER, Buffer.concat([ifinfomsg(upFlags(p.up)), ...commonAttrs(p)]))]));
  }
  return Buffer.concat([ifinfomsg(upFlags(l.up)), ...commonAttrs(l), nested(IFLA.LINKINFO, info)]);
}

export function describeNewLink(l: NewLink): string {
  return `${l.kind} ${l.name}`;
}

export async function linkAdd(s: NetlinkSocket, l: NewLink, signal?: AbortSignal, what?: string): Promise<void> {
  await s.request(RTM.NEWLINK, NLM_F.CREATE | NLM_F.EXCL, encodeNewLink(l), { op: 'linkAdd', object: what ?? describeNewLink(l), signal });
}

/**
 * Change a link, addressed by ifindex or by name. By name lets a change be
 * pipelined right behind the create in the same datagram (no index yet);
 * a rename needs the index.
 */
export async function linkSet(s: NetlinkSocket, ref: number | string, c: LinkChange, signal?: AbortSignal, what?: string): Promise<void> {
  const byName = typeof ref === 'string';
  if (byName && c.name !== undefined) throw new TypeError('linkSet: a rename must address the link by index');
  const index = byName ? 0 : ref;
  const a = byName ? [attr(IFLA.IFNAME, str(ref)), ...commonAttrs(c)] : commonAttrs(c);
  if (c.slave) a.push(nested(IFLA.LINKINFO, [attr(IFLA_INFO.SLAVE_KIND, str(c.slave.kind)), nested(IFLA_INFO.SLAVE_DATA, c.slave.data)]));
  if (c.noIpv6LinkLocal) a.push(nested(IFLA.AF_SPEC, [nested(AF.INET6, [attr(IFLA_INET6_ADDR_GEN_MODE, u8(IN6_ADDR_GEN_MODE_NONE))])]));
  await s.request(RTM.NEWLINK, 0, Buffer.concat([ifinfomsg({ index, ...upFlags(c.up) }), ...a]),
    { op: 'linkSet', object: what ?? (byName ? ref : `ifindex ${index}`), signal });
}

/** Delete by index or name. Already gone is success. */
export async function linkDel(s: NetlinkSocket, ref: { index?: number; name?: string }, signal?: AbortSignal): Promise<void> {
  const a = ref.index === undefined && ref.name !== undefined ? [attr(IFLA.IFNAME, str(ref.name))] : [];
  try {
    await s.request(RTM.DELLINK, 0, Buffer.concat([ifinfomsg({ index: ref.index ?? 0 }), ...a]),
      { op: 'linkDel', object: ref.name ?? `ifindex ${ref.index}`, signal });
  } catch (e) {
    if (e instanceof KernelError && (e.errnoName === 'ENODEV' || e.errnoName === 'ENOENT')) return;
    throw e;
  }
}

/** Delete every link in `group` in one request (the kernel walks the group). */
export async function linkDelGroup(s: NetlinkSocket, group: number, signal?: AbortSignal): Promise<void> {
  try {
    await s.request(RTM.DELLINK, 0, Buffer.concat([ifinfomsg({}), attr(IFLA.GROUP, u32(group))]),
      { op: 'linkDelGroup', object: `group ${group}`, signal });
  } catch (e) {
    if (e instanceof KernelError && (e.errnoName === 'ENODEV' || e.errnoName === 'ENOENT')) return;
    throw e;
  }
}

export async function linkGet(s: NetlinkSocket, name: string, signal?: AbortSignal): Promise<Link | undefined> {
  try {
    const r = await s.request(RTM.GETLINK, 0, Buffer.concat([ifinfomsg({}), attr(IFLA.IFNAME, str(name)),
      attr(IFLA.EXT_MASK, u32(RTEXT_FILTER.SKIP_STATS))]), { op: 'linkGet', object: name, signal });
    return r[0] ? decodeLink(r[0].payload) : undefined;
  } catch (e) {
    if (e instanceof KernelError && e.errnoName === 'ENODEV') return undefined;
    throw e;
  }
}

export async function linkList(s: NetlinkSocket, opts: { stats?: boolean; signal?: AbortSignal } = {}): Promise<Link[]> {
  const mask = opts.stats ? 0 : RTEXT_FILTER.SKIP_STATS;
  const msgs = await s.dump(RTM.GETLINK, Buffer.concat([ifinfomsg({ family: AF.UNSPEC }), attr(IFLA.EXT_MASK, u32(mask))]),
    { op: 'linkList', object: s.netns ? `netns ${s.netns}` : 'links', signal: opts.signal });
  return msgs.filter((m) => m.type === RTM.NEWLINK).map((m) => decodeLink(m.payload));
}

export function decodeLink(p: Buffer): Link {
  const h = readIfinfomsg(p);
  const a = parseAttrs(p, 16);
  const l: Link = { index: h.index, name: readStr(a.get(IFLA.IFNAME)) ?? '', flags: h.flags, up: (h.flags & IFF.UP) !== 0 };
  const set = <K extends keyof Link>(k: K, v: Link[K] | undefined): void => { if (v !== undefined) l[k] = v; };
  set('mtu', readU32(a.get(IFLA.MTU)));
  set('master', readU32(a.get(IFLA.MASTER)));
  set('link', readU32(a.get(IFLA.LINK)));
  set('group', readU32(a.get(IFLA.GROUP)));
  set('alias', readStr(a.get(IFLA.IFALIAS)));
  const mac = a.get(IFLA.ADDRESS);
  if (mac && mac.length === 6) l.mac = bytesToMac(mac);
  const nsid = a.get(IFLA.LINK_NETNSID);
  if (nsid) l.linkNetnsid = nsid.readInt32LE(0);
  const li = a.get(IFLA.LINKINFO);
  if (li) {
    const info = parseAttrs(li);
    set('kind', readStr(info.get(IFLA_INFO.KIND)));
    set('infoData', info.get(IFLA_INFO.DATA));
    set('slaveKind', readStr(info.get(IFLA_INFO.SLAVE_KIND)));
    set('slaveData', info.get(IFLA_INFO.SLAVE_DATA));
  }
  const st = a.get(IFLA.STATS64);
  if (st && st.length >= 64) {
    const q = (i: number): number => Number(st.readBigUInt64LE(i * 8));
    l.stats = { rxPackets: q(0), txPackets: q(1), rxBytes: q(2), txBytes: q(3), rxErrors: q(4), txErrors: q(5), rxDropped: q(6), txDropped: q(7) };
  }
  return l;
}

