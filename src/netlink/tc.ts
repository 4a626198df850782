// Queueing disciplines (RTM_*QDISC): create or replace, delete, dump. A
// qdisc is addressed by its device (ifindex), its parent (TC_H_ROOT or a
// class of another qdisc) and its own handle. Its kind's options
// (TCA_OPTIONS) are opaque here: src/shape/ encodes and decodes them, as the
// tunnel drivers do for links. Numbers from linux/rtnetlink.h and
// linux/pkt_sched.h.
import { NLM_F } from './constants.js';
import { attr, parseAttrs, readStr, str } from './codec.js';
import type { NetlinkSocket } from './socket.js';
import { KernelError } from '../errors.js';

export const RTM_QDISC = { NEWQDISC: 36, DELQDISC: 37, GETQDISC: 38 } as const;
export const TCA = { KIND: 1, OPTIONS: 2, STATS: 3, XSTATS: 4, RATE: 5, STATS2: 7 } as const;
/** TCA_STATS2 nested: basic counters (struct gnet_stats_basic), queue (struct gnet_stats_queue). */
export const TCA_STATS = { BASIC: 1, QUEUE: 3 } as const;

/** Handles: major (16 bits) : minor (16 bits). */
export const TC_H = { ROOT: 0xffffffff, UNSPEC: 0 } as const;
export const tcHandle = (major: number, minor = 0): number => (((major & 0xffff) << 16) | (minor & 0xffff)) >>> 0;
/** "1:", "10:1", "root": how tc prints a handle. */
export function showHandle(h: number): string {
  if (h === TC_H.ROOT) return 'root';
  const maj = (h >>> 16).toString(16), min = (h & 0xffff).toString(16);
  return min === '0' ? `${maj}:` : `${maj}:${min}`;
}

/** struct tcmsg: family, 3 bytes padding, ifindex, handle, parent, info. */
export interface TcMsg { family: number; index: number; handle: number; parent: number; info: number }
export const TCMSG_LEN = 20;
export function tcmsg(h: Partial<TcMsg>): Buffer {
  const b = Buffer.alloc(TCMSG_LEN);
  b.writeUInt8(h.family ?? 0, 0);
  b.writeInt32LE(h.index ?? 0, 4);
  b.writeUInt32LE((h.handle ?? 0) >>> 0, 8);
  b.writeUInt32LE((h.parent ?? 0) >>> 0, 12);
  b.writeUInt32LE((h.info ?? 0) >>> 0, 16);
  return b;
}
export function readTcmsg(p: Buffer): TcMsg {
  return { family: p.readUInt8(0), index: p.readInt32LE(4), handle: p.readUInt32LE(8), parent: p.readUInt32LE(12), info: p.readUInt32LE(16) };
}

/** What the kernel counts for a qdisc (TCA_STATS2). */
export interface QdiscStats { bytes: number; packets: number; drops: number; overlimits: number; qlen: number; backlog: number }

export interface Qdisc {
  index: number;
  handle: number;
  parent: number;
  kind: string;
  /** Raw TCA_OPTIONS payload; decode with src/shape/ for the kind. */
  options?: Buffer;
  stats?: QdiscStats;
}

export interface QdiscSpec {
  index: number;
  /** TC_H.ROOT, or a class of the parent qdisc (tcHandle(1, 1)). */
  parent: number;
  handle: number;
  kind: string;
  /** The TCA_OPTIONS payload, already encoded for the kind (none for a kind without options). */
  options?: Buffer;
}

const describe = (q: { index: number; parent: number; handle?: number; kind?: string }, what?: string): string =>
  `${q.kind ?? 'qdisc'} ${q.handle !== undefined ? `${showHandle(q.handle)} ` : ''}parent ${showHandle(q.parent)} on ${what ?? `ifindex ${q.index}`}`;

export function encodeQdisc(q: QdiscSpec): Buffer {
  const a = [tcmsg({ index: q.index, handle: q.handle, parent: q.parent }), attr(TCA.KIND, str(q.kind))];
  if (q.options) a.push(attr(TCA.OPTIONS, q.options));
  return Buffer.concat(a);
}

/**
 * Create the qdisc, or replace whatever is at its place (NLM_F_REPLACE):
 * the same kind and handle there is changed in place, keeping its queue and
 * its children; anything else there is swapped for it.
 */
export async function qdiscReplace(s: NetlinkSocket, q: QdiscSpec, signal?: AbortSignal, what?: string): Promise<void> {
  await s.request(RTM_QDISC.NEWQDISC, NLM_F.CREATE | NLM_F.REPLACE, encodeQdisc(q), { op: 'qdiscReplace', object: describe(q, what), signal });
}

/**
 * Change an existing qdisc's options in place (no NLM_F_CREATE: fails with
 * ENOENT when it is not there, EINVAL when the kind differs).
 */
export async function qdiscChange(s: NetlinkSocket, q: QdiscSpec, signal?: AbortSignal, what?: string): Promise<void> {
  await s.request(RTM_QDISC.NEWQDISC, 0, encodeQdisc(q), { op: 'qdiscChange', object: describe(q, what), signal });
}

/**
 * Delete the qdisc at `parent` (its children go with it; at the root the
 * device gets its default back). Nothing there is success: the kernel says
 * ENOENT, or EINVAL for a default root qdisc, which cannot be deleted.
 */
export async function qdiscDel(s: NetlinkSocket, q: { index: number; parent: number }, signal?: AbortSignal, what?: string): Promise<void> {
  try {
    await s.request(RTM_QDISC.DELQDISC, 0, tcmsg({ index: q.index, parent: q.parent }), { op: 'qdiscDel', object: describe(q, what), signal });
  } catch (e) {
    if (e instanceof KernelError && (e.errnoName === 'ENOENT' || e.errnoName === 'EINVAL' || e.errnoName === 'ENODEV')) return;
    throw e;
  }
}

/** Every qdisc in the socket's namespace, or on one device. */
export async function qdiscList(s: NetlinkSocket, opts: { index?: number; signal?: AbortSignal } = {}): Promise<Qdisc[]> {
  const msgs = await s.dump(RTM_QDISC.GETQDISC, tcmsg({ index: opts.index ?? 0 }),
    { op: 'qdiscList', object: s.netns ? `netns ${s.netns}` : 'qdiscs', signal: opts.signal });
  const all = msgs.filter((m) => m.type === RTM_QDISC.NEWQDISC).map((m) => decodeQdisc(m.payload));
  return opts.index === undefined ? all : all.filter((q) => q.index === opts.index);
}

export function decodeQdisc(p: Buffer): Qdisc {
  const h = readTcmsg(p);
  const a = parseAttrs(p, TCMSG_LEN);
  const q: Qdisc = { index: h.index, handle: h.handle, parent: h.parent, kind: readStr(a.get(TCA.KIND)) ?? '' };
  const o = a.get(TCA.OPTIONS);
  if (o) q.options = o;
  const st = a.get(TCA.STATS2);
  if (st) {
    const s2 = parseAttrs(st);
    const basic = s2.get(TCA_STATS.BASIC);
    const queue = s2.get(TCA_STATS.QUEUE);
    // gnet_stats_basic: u64 bytes, u32 packets; gnet_stats_queue: qlen, backlog, drops, requeues, overlimits (u32 each).
    if (basic && basic.length >= 12 && queue && queue.length >= 20) {
      q.stats = {
        bytes: Number(basic.readBigUInt64LE(0)), packets: basic.readUInt32LE(8),
        qlen: queue.readUInt32LE(0), backlog: queue.readUInt32LE(4), drops: queue.readUInt32LE(8), overlimits: queue.readUInt32LE(16),
      };
    }
  }
  return q;
}
