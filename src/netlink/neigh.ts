// Neighbours (ARP/NDP) and bridge/VXLAN forwarding-database entries (RTM_*NEIGH).
import { AF, NDA, NLM_F, NTF, NUD, RTM } from './constants.js';
import { attr, bytesToIp, bytesToMac, familyOf, ipToBytes, macToBytes, ndmsg, parseAttrs, readNdmsg, readU32 } from './codec.js';
import type { NetlinkSocket } from './socket.js';
import { KernelError } from '../errors.js';

export interface Neigh {
  family: number;
  index: number;
  state: number;
  flags: number;
  /** IP (neighbour) or underlay remote (VXLAN FDB). */
  dst?: string;
  mac?: string;
  master?: number;
  vni?: number;
}

/** A VXLAN head-end-replication entry: all-zero MAC → flood to `remote`. */
export interface FdbEntry { index: number; mac: string; dst?: string; vni?: number }

const ZERO_MAC = '00:00:00:00:00:00';
export { ZERO_MAC };

function encodeFdb(e: FdbEntry): Buffer {
  const a = [ndmsg({ family: AF.BRIDGE, index: e.index, state: NUD.NOARP | NUD.PERMANENT, flags: NTF.SELF, type: 0 }), attr(NDA.LLADDR, macToBytes(e.mac))];
  if (e.dst) a.push(attr(NDA.DST, ipToBytes(e.dst)));
  return Buffer.concat(a);
}

const fdbWhat = (e: FdbEntry): string => `fdb ${e.mac}${e.dst ? ` dst ${e.dst}` : ''} on ifindex ${e.index}`;

/** Append an FDB entry (several may share the all-zero MAC: one per remote). Present already: success. */
export async function fdbAppend(s: NetlinkSocket, e: FdbEntry, signal?: AbortSignal): Promise<void> {
  try {
    await s.request(RTM.NEWNEIGH, NLM_F.CREATE | NLM_F.APPEND, encodeFdb(e), { op: 'fdbAppend', object: fdbWhat(e), signal });
  } catch (err) {
    if (err instanceof KernelError && err.errnoName === 'EEXIST') return;
    throw err;
  }
}

export async function fdbDel(s: NetlinkSocket, e: FdbEntry, signal?: AbortSignal): Promise<void> {
  try {
    await s.request(RTM.DELNEIGH, 0, encodeFdb(e), { op: 'fdbDel', object: fdbWhat(e), signal });
  } catch (err) {
    if (err instanceof KernelError && (err.errnoName === 'ENOENT' || err.errnoName === 'ENODEV')) return;
    throw err;
  }
}

/** A permanent IP neighbour entry (ARP/NDP), replaced if present. */
export async function neighReplace(s: NetlinkSocket, n: { index: number; dst: string; mac: string }, signal?: AbortSignal): Promise<void> {
  await s.request(RTM.NEWNEIGH, NLM_F.CREATE | NLM_F.REPLACE, Buffer.concat([
    ndmsg({ family: familyOf(n.dst), index: n.index, state: NUD.PERMANENT, flags: 0, type: 0 }),
    attr(NDA.DST, ipToBytes(n.dst)), attr(NDA.LLADDR, macToBytes(n.mac)),
  ]), { op: 'neighReplace', object: `${n.dst} lladdr ${n.mac} on ifindex ${n.index}`, signal });
}

export async function neighDel(s: NetlinkSocket, n: { index: number; dst: string }, signal?: AbortSignal): Promise<void> {
  try {
    await s.request(RTM.DELNEIGH, 0, Buffer.concat([
      ndmsg({ family: familyOf(n.dst), index: n.index, state: 0, flags: 0, type: 0 }), attr(NDA.DST, ipToBytes(n.dst)),
    ]), { op: 'neighDel', object: `${n.dst} on ifindex ${n.index}`, signal });
  } catch (err) {
    if (err instanceof KernelError && (err.errnoName === 'ENOENT' || err.errnoName === 'ENODEV')) return;
    throw err;
  }
}

/** Dump neighbours of one family: AF.BRIDGE lists FDB entries (bridge and VXLAN). */
export async function neighList(s: NetlinkSocket, family: number, signal?: AbortSignal): Promise<Neigh[]> {
  const msgs = await s.dump(RTM.GETNEIGH, ndmsg({ family, index: 0, state: 0, flags: 0, type: 0 }),
    { op: 'neighList', object: s.netns ? `netns ${s.netns}` : 'neighbours', signal });
  return msgs.filter((m) => m.type === RTM.NEWNEIGH).map((m) => decodeNeigh(m.payload));
}

export function decodeNeigh(p: Buffer): Neigh {
  const h = readNdmsg(p);
  const a = parseAttrs(p, 12);
  const n: Neigh = { family: h.family, index: h.index, state: h.state, flags: h.flags };
  const dst = a.get(NDA.DST);
  if (dst && (dst.length === 4 || dst.length === 16)) n.dst = bytesToIp(dst);
  const mac = a.get(NDA.LLADDR);
  if (mac && mac.length === 6) n.mac = bytesToMac(mac);
  const master = readU32(a.get(NDA.MASTER));
  if (master !== undefined) n.master = master;
  const vni = readU32(a.get(NDA.VNI));
  if (vni !== undefined) n.vni = vni;
  return n;
}
