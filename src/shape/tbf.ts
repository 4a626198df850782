// The token bucket filter (sch_tbf): visp's rate shaper. Its options are
// struct tc_tbf_qopt (TCA_TBF_PARMS) plus the 64-bit rate (TCA_TBF_RATE64,
// needed from 2^32 bytes/s) and the burst in bytes (TCA_TBF_BURST: the
// kernel then derives the bucket's time from it, no rounding through ticks).
// The rate is marked TC_LINKLAYER_ETHERNET, so the kernel computes each
// packet's time itself and wants no rate table (iproute2 sends one for
// kernels older than 3.8, which visp does not support). Numbers from
// linux/pkt_sched.h.
import { attr, parseAttrs, u32 } from '../netlink/codec.js';

export const TCA_TBF = { PARMS: 1, RTAB: 2, PTAB: 3, RATE64: 4, PRATE64: 5, BURST: 6, PBURST: 7, PAD: 8 } as const;
const TC_LINKLAYER_ETHERNET = 1;
/** sizeof(struct tc_ratespec) = 12; struct tc_tbf_qopt = rate, peakrate, limit, buffer, mtu = 36. */
const RATESPEC_LEN = 12;
const QOPT_LEN = 2 * RATESPEC_LEN + 12;
/** The kernel's scheduler clock: one tick is 64 ns (PSCHED_SHIFT 6). */
const NS_PER_TICK = 64;

export interface TbfParams {
  /** Bytes per second. */
  rate: number;
  /** Bucket size, bytes: how much may go at once after a pause; also the largest packet sent whole (a bigger GSO packet is segmented). */
  burst: number;
  /** Queue, bytes (the bfifo under it). */
  limit: number;
}

function u64(v: number): Buffer { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(Math.round(v))); return b; }

/** TCA_OPTIONS payload for a tbf qdisc. */
export function encodeTbf(p: TbfParams): Buffer {
  const q = Buffer.alloc(QOPT_LEN);
  // rate: cell_log, linklayer, overhead, cell_align, mpu, rate (bytes/s, ~0 when it needs 64 bits)
  q.writeUInt8(TC_LINKLAYER_ETHERNET, 1);
  q.writeUInt32LE(Math.min(p.rate, 0xffffffff), 8);
  // peakrate: zero (none)
  q.writeUInt32LE(p.limit, 2 * RATESPEC_LEN);
  q.writeUInt32LE(Math.min(Math.round((p.burst * 1e9) / p.rate / NS_PER_TICK), 0xffffffff), 2 * RATESPEC_LEN + 4);
  const a = [attr(TCA_TBF.PARMS, q), attr(TCA_TBF.BURST, u32(p.burst))];
  if (p.rate >= 2 ** 32) a.push(attr(TCA_TBF.RATE64, u64(p.rate)));
  return Buffer.concat(a);
}

/** What a dump says (the burst comes back from the bucket's time in ticks, so within a tick's worth of bytes). */
export function decodeTbf(options: Buffer): TbfParams | undefined {
  const a = parseAttrs(options);
  const q = a.get(TCA_TBF.PARMS);
  if (!q || q.length < QOPT_LEN) return undefined;
  const r64 = a.get(TCA_TBF.RATE64);
  const rate = r64 && r64.length >= 8 ? Number(r64.readBigUInt64LE(0)) : q.readUInt32LE(8);
  const ticks = q.readUInt32LE(2 * RATESPEC_LEN + 4);
  return { rate, limit: q.readUInt32LE(2 * RATESPEC_LEN), burst: Math.round((ticks * NS_PER_TICK * rate) / 1e9) };
}

/** How `have` differs from `want`, in words; [] when it is as wanted. */
export function diffTbf(want: TbfParams, have: TbfParams | undefined): string[] {
  if (!have) return ['options unreadable'];
  const out: string[] = [];
  if (have.rate !== want.rate) out.push(`rate ${have.rate * 8} → ${want.rate * 8} bit/s`);
  // Two ticks' worth of bytes at this rate, and rounding.
  if (Math.abs(have.burst - want.burst) > (want.rate * 2 * NS_PER_TICK) / 1e9 + 2) out.push(`burst ${have.burst} → ${want.burst} bytes`);
  if (have.limit !== want.limit) out.push(`limit ${have.limit} → ${want.limit} bytes`);
  return out;
}
