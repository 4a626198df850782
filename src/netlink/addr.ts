// Interface addresses (RTM_*ADDR), IPv4 and IPv6.
import { IFA, IFA_F, NLM_F, RTM, RT_SCOPE } from './constants.js';
import { attr, bytesToIp, ifaddrmsg, ipToBytes, parseAttrs, parseCidr, readIfaddrmsg, u32 } from './codec.js';
import type { NetlinkSocket } from './socket.js';
import { KernelError } from '../errors.js';

export interface Addr { index: number; family: number; prefixlen: number; address: string; cidr: string; scope: number }

function encode(index: number, cidr: string, flags = 0): Buffer {
  const c = parseCidr(cidr);
  const ip = ipToBytes(c.address);
  // IPv6: no DAD, so the address is usable at once (ours are allocated, never duplicated).
  const f = c.family === 10 ? flags | IFA_F.NODAD : flags;
  const parts = [ifaddrmsg({ family: c.family, prefixlen: c.prefixlen, flags: f & 0xff, scope: RT_SCOPE.UNIVERSE, index }), attr(IFA.LOCAL, ip)];
  if (c.family === 2) parts.push(attr(IFA.ADDRESS, ip));
  if (c.family === 10) parts.splice(1, 1, attr(IFA.ADDRESS, ip));
  if (f > 0xff) parts.push(attr(IFA.FLAGS, u32(f)));
  return Buffer.concat(parts);
}

/** Add an address; already present is success. */
export async function addrAdd(s: NetlinkSocket, index: number, cidr: string, signal?: AbortSignal, what?: string): Promise<void> {
  try {
    await s.request(RTM.NEWADDR, NLM_F.CREATE | NLM_F.EXCL, encode(index, cidr), { op: 'addrAdd', object: `${cidr} on ${what ?? `ifindex ${index}`}`, signal });
  } catch (e) {
    if (e instanceof KernelError && e.errnoName === 'EEXIST') return;
    throw e;
  }
}

/** Remove an address; already gone is success. */
export async function addrDel(s: NetlinkSocket, index: number, cidr: string, signal?: AbortSignal, what?: string): Promise<void> {
  try {
    await s.request(RTM.DELADDR, 0, encode(index, cidr), { op: 'addrDel', object: `${cidr} on ${what ?? `ifindex ${index}`}`, signal });
  } catch (e) {
    if (e instanceof KernelError && (e.errnoName === 'EADDRNOTAVAIL' || e.errnoName === 'ENODEV')) return;
    throw e;
  }
}

export async function addrList(s: NetlinkSocket, signal?: AbortSignal): Promise<Addr[]> {
  const msgs = await s.dump(RTM.GETADDR, ifaddrmsg({ family: 0, prefixlen: 0, flags: 0, scope: 0, index: 0 }),
    { op: 'addrList', object: s.netns ? `netns ${s.netns}` : 'addresses', signal });
  return msgs.filter((m) => m.type === RTM.NEWADDR).map((m) => decodeAddr(m.payload));
}

export function decodeAddr(p: Buffer): Addr {
  const h = readIfaddrmsg(p);
  const a = parseAttrs(p, 8);
  // IFA_LOCAL is the interface's own address on point-to-point links; prefer it.
  const raw = a.get(IFA.LOCAL) ?? a.get(IFA.ADDRESS);
  const address = raw ? bytesToIp(raw) : '';
  return { index: h.index, family: h.family, prefixlen: h.prefixlen, address, cidr: `${address}/${h.prefixlen}`, scope: h.scope };
}
