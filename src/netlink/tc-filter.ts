// Traffic-control filters (RTM_*TFILTER) and the clsact qdisc they hang on.
// A filter is addressed by its device, its parent (here: clsact's ingress
// hook), its priority and the ethertype it applies to; its classifier's
// options (TCA_OPTIONS) are opaque here, as qdisc options are in tc.ts: the
// code that knows what a filter is for encodes and decodes them
// (src/bridge/redirect.ts). Numbers from linux/rtnetlink.h and
// linux/pkt_sched.h.
import { NLM_F } from './constants.js';
import { attr, parseAttrs, readStr, str } from './codec.js';
import type { NetlinkSocket } from './socket.js';
import { qdiscReplace, readTcmsg, tcmsg, TCA, TCMSG_LEN } from './tc.js';

export const RTM_TFILTER = { NEWTFILTER: 44, DELTFILTER: 45, GETTFILTER: 46 } as const;

/**
 * clsact: a qdisc with no queue, only two hooks for filters, at the
 * device's ingress (before any rx_handler such as a bridge's) and egress. It
 * sits beside the root qdisc, so it never disturbs a shaper there.
 */
export const CLSACT = { parent: 0xfffffff1, handle: 0xffff0000, ingress: 0xfffffff2, egress: 0xfffffff3 } as const;

/** Every ethertype (ETH_P_ALL), for a filter that sees all frames. */
export const ETH_P_ALL = 0x0003;

export interface FilterSpec {
  index: number;
  parent: number;
  /** Lower runs first; unique per (parent, protocol) here. */
  prio: number;
  /** Host-order ethertype the filter applies to (ETH_P_ALL: every frame). */
  protocol: number;
  kind: string;
  options: Buffer;
}

export interface Filter {
  index: number;
  parent: number;
  handle: number;
  prio: number;
  protocol: number;
  kind: string;
  options?: Buffer;
}

/** tcm_info of a filter: priority in the upper half, the ethertype in network order in the lower. */
const info = (prio: number, protocol: number): number => (((prio & 0xffff) << 16) | (((protocol & 0xff) << 8) | ((protocol >> 8) & 0xff))) >>> 0;

export function encodeFilter(f: FilterSpec): Buffer {
  return Buffer.concat([tcmsg({ index: f.index, parent: f.parent, info: info(f.prio, f.protocol) }), attr(TCA.KIND, str(f.kind)), attr(TCA.OPTIONS, f.options)]);
}

export function decodeFilter(p: Buffer): Filter {
  const h = readTcmsg(p);
  const a = parseAttrs(p, TCMSG_LEN);
  const low = h.info & 0xffff;
  const f: Filter = { index: h.index, parent: h.parent, handle: h.handle, prio: h.info >>> 16, protocol: ((low & 0xff) << 8) | (low >> 8), kind: readStr(a.get(TCA.KIND)) ?? '' };
  const o = a.get(TCA.OPTIONS);
  if (o) f.options = o;
  return f;
}

/** The clsact qdisc on a device (kept as it is when there already: its filters stay). */
export async function clsactEnsure(s: NetlinkSocket, index: number, signal?: AbortSignal, what?: string): Promise<void> {
  await qdiscReplace(s, { index, parent: CLSACT.parent, handle: CLSACT.handle, kind: 'clsact' }, signal, what);
}

/** Add a filter (a new one: the kernel picks its handle). */
export async function filterAdd(s: NetlinkSocket, f: FilterSpec, signal?: AbortSignal, what?: string): Promise<void> {
  await s.request(RTM_TFILTER.NEWTFILTER, NLM_F.CREATE | NLM_F.EXCL, encodeFilter(f),
    { op: 'filterAdd', object: `${f.kind} filter prio ${f.prio} on ${what ?? `ifindex ${f.index}`}`, signal });
}

/** The filters at one hook of one device. */
export async function filterList(s: NetlinkSocket, index: number, parent: number, signal?: AbortSignal): Promise<Filter[]> {
  const msgs = await s.dump(RTM_TFILTER.GETTFILTER, tcmsg({ index, parent }), { op: 'filterList', object: `filters of ifindex ${index}`, signal });
  return msgs.filter((m) => m.type === RTM_TFILTER.NEWTFILTER).map((m) => decodeFilter(m.payload));
}
