// A direction's properties → the qdiscs on the egress of the device that
// sends it (docs/links.md), and how what a device has differs from that.
//
//   capacity only             tbf 1: (root)  → bfifo 11: (its queue)
//   capacity + impairments    tbf 1: (root)  → netem 10: (delay, jitter, loss, …)
//   impairments only          netem 2: (root)
//   loss 100%                 blackhole 3: (root; drops everything, no netem needed)
//   nothing                   the device's default (no root qdisc of ours)
//
// Each kind has its own handle, so a change of kind at the root is a new
// qdisc grafted in place of the old (the kernel refuses to change a qdisc's
// kind under the same handle), while a change of values is the same qdisc
// changed in place: its queue, and a tbf's child, stay. netem sits under
// tbf, not above it: delay first, then the rate, so the rate shaper's queue
// adds to the delay as a real link's does, and netem's own queue is sized
// to hold the link's bandwidth-delay product (its default, 1000 packets,
// caps a 1 Gbit/s, 20 ms link at about half its rate).
import { qdiscDel, qdiscReplace, TC_H, tcHandle, type Qdisc, type QdiscSpec } from '../netlink/tc.js';
import type { NetlinkSocket } from '../netlink/socket.js';
import { u32 } from '../netlink/codec.js';
import { dropsAll, netemFields, shapedOnly, type LinkProperties } from './properties.js';
import { decodeNetem, diffNetem, encodeNetem, probability, type NetemParams } from './netem.js';
import { decodeTbf, diffTbf, encodeTbf, type TbfParams } from './tbf.js';

export const HANDLE = { tbf: tcHandle(1), netemUnderTbf: tcHandle(0x10), bfifo: tcHandle(0x11), netem: tcHandle(2), blackhole: tcHandle(3) } as const;
/** tbf's one class: where its child hangs. */
const TBF_CLASS = tcHandle(1, 1);

/** A layer-2 link's frames carry an Ethernet header the MTU does not count; the shaper counts it. */
export const ETHERNET_HEADER = 14;
/** The bucket holds this long at the rate: enough that the timer's wake-ups (tens of µs late at worst) cost under 1% at 1 Gbit/s and more. */
export const BURST_SECONDS = 0.002;
/** The rate shaper's queue holds this long at the rate (tc's customary 50 ms): TCP fills the link without the queue growing without end. */
export const QUEUE_SECONDS = 0.05;
/**
 * netem's own rate, set only to keep jittered packets in order: with a rate
 * netem sends each packet no earlier than the one before it (a FIFO whose
 * delay varies), without one each packet's delay is drawn alone and they
 * overtake each other. 100 Gbit/s: it never limits anything itself.
 */
export const ORDER_RATE = 12_500_000_000;
/** Without a capacity, netem's queue is sized as if the link ran at 10 Gbit/s. */
export const NOMINAL_RATE = 1_250_000_000;
export const NETEM_MIN_LIMIT = 1000;
const NETEM_MAX_LIMIT = 10_000_000;

export type ShaperQdisc =
  | { kind: 'tbf'; parent: number; handle: number; tbf: TbfParams }
  | { kind: 'bfifo'; parent: number; handle: number; limit: number }
  | { kind: 'netem'; parent: number; handle: number; netem: NetemParams }
  | { kind: 'blackhole'; parent: number; handle: number };

/** The qdiscs, root first, for one direction with properties `p` on a device of this MTU; [] for none. */
export function shaperFor(p: LinkProperties | undefined, mtu: number): ShaperQdisc[] {
  const s = shapedOnly(p);
  if (!s) return [];
  if (dropsAll(s)) return [{ kind: 'blackhole', parent: TC_H.ROOT, handle: HANDLE.blackhole }];
  const frame = mtu + ETHERNET_HEADER;
  const out: ShaperQdisc[] = [];
  let queueBytes = 0;
  if (s.capacity) {
    const rate = Math.round(s.capacity / 8);
    const burst = Math.min(Math.max(Math.ceil(rate * BURST_SECONDS), 2 * frame), 0xffffffff);
    const limit = Math.min(burst + Math.ceil(rate * QUEUE_SECONDS), 0xffffffff);
    queueBytes = limit;
    out.push({ kind: 'tbf', parent: TC_H.ROOT, handle: HANDLE.tbf, tbf: { rate, burst, limit } });
  }
  if (netemFields(s).length) {
    const delayS = ((s.latency ?? 0) + (s.jitter ?? 0)) / 1e6;
    const bdp = (s.capacity ? s.capacity / 8 : NOMINAL_RATE) * delayS + queueBytes;
    const limit = Math.min(Math.max(Math.ceil(bdp / frame), NETEM_MIN_LIMIT), NETEM_MAX_LIMIT);
    const netem: NetemParams = {
      latencyNs: (s.latency ?? 0) * 1000, jitterNs: (s.jitter ?? 0) * 1000,
      loss: probability(s.loss ?? 0), corrupt: probability(s.corruption ?? 0), reorder: probability(s.reorder ?? 0),
      gap: s.reorder ? 1 : 0, limit, rate: s.jitter ? ORDER_RATE : 0,
    };
    out.push(s.capacity ? { kind: 'netem', parent: TBF_CLASS, handle: HANDLE.netemUnderTbf, netem } : { kind: 'netem', parent: TC_H.ROOT, handle: HANDLE.netem, netem });
  } else if (s.capacity) {
    out.push({ kind: 'bfifo', parent: TBF_CLASS, handle: HANDLE.bfifo, limit: queueBytes });
  }
  return out;
}

/** The request for one of them on device `index`. */
export function qdiscSpecOf(q: ShaperQdisc, index: number): QdiscSpec {
  const base = { index, parent: q.parent, handle: q.handle, kind: q.kind };
  switch (q.kind) {
    case 'tbf': return { ...base, options: encodeTbf(q.tbf) };
    case 'netem': return { ...base, options: encodeNetem(q.netem) };
    case 'bfifo': return { ...base, options: u32(q.limit) }; // struct tc_fifo_qopt: limit
    case 'blackhole': return base;
  }
}

/** What a device has: its qdiscs from a dump, the ingress/clsact one left out (not an egress shaper). */
export const egressQdiscs = (qs: readonly Qdisc[]): Qdisc[] => qs.filter((q) => q.parent !== 0xfffffff1 && q.handle !== 0xffff0000);

export interface ShaperDiff {
  /** Differences in words; [] when the device is shaped as wanted. */
  why: string[];
  /** Something is there that changing the wanted qdiscs in place would leave (a foreign qdisc under ours): delete the root first. */
  rebuild: boolean;
}

const name = (q: { kind: string; handle: number }): string => `${q.kind} ${(q.handle >>> 16).toString(16)}:`;

/** How device `have` (its egress qdiscs) differs from `want`. */
export function diffShaper(want: readonly ShaperQdisc[], have: readonly Qdisc[]): ShaperDiff {
  const root = have.find((q) => q.parent === TC_H.ROOT);
  // A root qdisc with handle 0 is the device's default (noqueue, pfifo_fast, mq): not ours, not a shaper.
  const ours = root && root.handle !== 0 ? root : undefined;
  if (!want.length) return { why: ours ? [`${name(ours)} at the root, and the link asks for no shaping`] : [], rebuild: false };
  const why: string[] = [];
  for (const w of want) {
    const h = have.find((q) => q.parent === w.parent && (w.parent !== TC_H.ROOT || q.handle !== 0));
    const where = w.parent === TC_H.ROOT ? 'at the root' : `under ${name({ kind: 'tbf', handle: w.parent })}`;
    if (!h) { why.push(`no ${w.kind} ${where}`); break; }   // (what would hang under it is created with it: not listed)
    if (h.kind !== w.kind || h.handle !== w.handle) { why.push(`${name(h)} ${where} → ${name(w)}`); break; }
    const d = w.kind === 'tbf' ? diffTbf(w.tbf, h.options && decodeTbf(h.options))
      : w.kind === 'netem' ? diffNetem(w.netem, h.options && decodeNetem(h.options))
        : w.kind === 'bfifo' ? (h.options?.length && h.options.readUInt32LE(0) === w.limit ? [] : [`limit ${h.options?.length ? h.options.readUInt32LE(0) : '?'} → ${w.limit} bytes`])
          : [];
    why.push(...d.map((x) => `${name(w)} ${x}`));
  }
  // Anything else on the device hangs under one of ours (or under what is being replaced): only a fresh tree drops it.
  // (One at a wanted qdisc's place is replaced by it; one under a qdisc that is replaced goes with that one.)
  const kept = have.filter((q) => q.parent !== TC_H.ROOT && !want.some((w) => w.parent === q.parent) && want.some((w) => (q.parent >>> 16) === (w.handle >>> 16)));
  const rebuild = kept.length > 0;
  for (const q of kept) why.push(`${name(q)} is not visp's`);
  return { why, rebuild };
}

/**
 * Make device `index` shaped as `want` (root first). Values change in
 * place; an unshaped link, or one whose device carries a foreign qdisc
 * under ours (`rebuild`), has the root deleted first (the device's default
 * comes back). The requests go in one datagram; the kernel takes them in order.
 */
export async function applyShaper(s: NetlinkSocket, index: number, want: readonly ShaperQdisc[], rebuild: boolean, signal?: AbortSignal, what?: string): Promise<void> {
  const reqs: Array<Promise<void>> = [];
  if (!want.length || rebuild) reqs.push(qdiscDel(s, { index, parent: TC_H.ROOT }, signal, what));
  for (const q of want) reqs.push(qdiscReplace(s, qdiscSpecOf(q, index), signal, what));
  await Promise.all(reqs);
}
