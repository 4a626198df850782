// The network emulator (sch_netem): delay, jitter, loss, corruption and
// reordering. Its options are not nested attributes like other qdiscs':
// TCA_OPTIONS holds struct tc_netem_qopt first and the attributes after it.
// Delay and jitter go as 64-bit nanoseconds (TCA_NETEM_LATENCY64/JITTER64;
// the qopt's 32-bit tick fields are what kernels before 4.15 read, and are
// filled as well). On a change the kernel keeps any attribute that is not
// sent (reorder, corruption, rate, correlation), so every one is sent,
// zero when unused. Probabilities are 32-bit: 0 none, 2^32-1 always.
// Numbers from linux/pkt_sched.h; encodings as the kernel's netem_change
// reads them.
import { attr, parseAttrs } from '../netlink/codec.js';

export const TCA_NETEM = { CORR: 1, DELAY_DIST: 2, REORDER: 3, CORRUPT: 4, LOSS: 5, RATE: 6, ECN: 7, RATE64: 8, PAD: 9, LATENCY64: 10, JITTER64: 11 } as const;
/** struct tc_netem_qopt: latency, limit, loss, gap, duplicate, jitter (u32 each). */
const QOPT_LEN = 24;
const NS_PER_TICK = 64;
export const PROBABILITY_MAX = 0xffffffff;

export interface NetemParams {
  latencyNs: number;
  jitterNs: number;
  /** Probabilities, 0..PROBABILITY_MAX. */
  loss: number;
  corrupt: number;
  reorder: number;
  /** 1 with reordering (every packet is a candidate), else 0. */
  gap: number;
  /** Queue, packets. */
  limit: number;
  /** Bytes per second; 0: none. visp sets it only to keep jittered packets in order (see tree.ts). */
  rate: number;
  /** Anything visp never sets (duplication, correlations) that is set: drift. */
  extra?: string[];
}

/** A fraction 0..1 as the kernel's 32-bit probability. */
export const probability = (f: number): number => Math.min(PROBABILITY_MAX, Math.max(0, Math.round(f * PROBABILITY_MAX)));

const s64 = (v: number): Buffer => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(Math.round(v))); return b; };
const u64 = (v: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(Math.round(v))); return b; };
const pair = (a: number, b: number): Buffer => { const x = Buffer.alloc(8); x.writeUInt32LE(a >>> 0, 0); x.writeUInt32LE(b >>> 0, 4); return x; };

/** TCA_OPTIONS payload for a netem qdisc. */
export function encodeNetem(p: NetemParams): Buffer {
  const q = Buffer.alloc(QOPT_LEN);
  q.writeUInt32LE(Math.min(Math.round(p.latencyNs / NS_PER_TICK), 0xffffffff), 0);
  q.writeUInt32LE(p.limit, 4);
  q.writeUInt32LE(p.loss >>> 0, 8);
  q.writeUInt32LE(p.gap, 12);
  q.writeUInt32LE(0, 16); // duplicate
  q.writeUInt32LE(Math.min(Math.round(p.jitterNs / NS_PER_TICK), 0xffffffff), 20);
  const rate = Buffer.alloc(16); // rate, packet_overhead, cell_size, cell_overhead
  rate.writeUInt32LE(Math.min(p.rate, 0xffffffff), 0);
  const a = [
    q,
    attr(TCA_NETEM.LATENCY64, s64(p.latencyNs)),
    attr(TCA_NETEM.JITTER64, s64(p.jitterNs)),
    attr(TCA_NETEM.CORR, Buffer.alloc(12)),
    attr(TCA_NETEM.REORDER, pair(p.reorder, 0)),
    attr(TCA_NETEM.CORRUPT, pair(p.corrupt, 0)),
    attr(TCA_NETEM.RATE, rate),
  ];
  if (p.rate >= 2 ** 32) a.push(attr(TCA_NETEM.RATE64, u64(p.rate)));
  return Buffer.concat(a);
}

export function decodeNetem(options: Buffer): NetemParams | undefined {
  if (options.length < QOPT_LEN) return undefined;
  const a = parseAttrs(options, QOPT_LEN);
  const i64 = (t: number): number | undefined => { const b = a.get(t); return b && b.length >= 8 ? Number(b.readBigInt64LE(0)) : undefined; };
  const first = (t: number): number => a.get(t)?.readUInt32LE(0) ?? 0;
  const r64 = a.get(TCA_NETEM.RATE64);
  const extra: string[] = [];
  if (options.readUInt32LE(16)) extra.push('duplication');
  const corr = a.get(TCA_NETEM.CORR);
  if (corr && corr.length >= 12 && (corr.readUInt32LE(0) || corr.readUInt32LE(4) || corr.readUInt32LE(8))) extra.push('correlation');
  for (const [t, what] of [[TCA_NETEM.REORDER, 'reorder correlation'], [TCA_NETEM.CORRUPT, 'corruption correlation']] as const) {
    const b = a.get(t);
    if (b && b.length >= 8 && b.readUInt32LE(4)) extra.push(what);
  }
  if (a.get(TCA_NETEM.LOSS)?.length) extra.push('a loss model');
  return {
    latencyNs: i64(TCA_NETEM.LATENCY64) ?? options.readUInt32LE(0) * NS_PER_TICK,
    jitterNs: i64(TCA_NETEM.JITTER64) ?? options.readUInt32LE(20) * NS_PER_TICK,
    limit: options.readUInt32LE(4),
    loss: options.readUInt32LE(8),
    gap: options.readUInt32LE(12),
    reorder: first(TCA_NETEM.REORDER),
    corrupt: first(TCA_NETEM.CORRUPT),
    rate: r64 && r64.length >= 8 ? Number(r64.readBigUInt64LE(0)) : first(TCA_NETEM.RATE),
    ...(extra.length ? { extra } : {}),
  };
}

const pct = (p: number): string => `${+((p / PROBABILITY_MAX) * 100).toPrecision(4)}%`;

export function diffNetem(want: NetemParams, have: NetemParams | undefined): string[] {
  if (!have) return ['options unreadable'];
  const out: string[] = [];
  if (have.latencyNs !== want.latencyNs) out.push(`delay ${have.latencyNs / 1000} → ${want.latencyNs / 1000} µs`);
  if (have.jitterNs !== want.jitterNs) out.push(`jitter ${have.jitterNs / 1000} → ${want.jitterNs / 1000} µs`);
  for (const k of ['loss', 'corrupt', 'reorder'] as const) if (have[k] !== want[k]) out.push(`${k} ${pct(have[k])} → ${pct(want[k])}`);
  if (have.gap !== want.gap) out.push(`gap ${have.gap} → ${want.gap}`);
  if (have.limit !== want.limit) out.push(`limit ${have.limit} → ${want.limit} packets`);
  if (have.rate !== want.rate) out.push(`rate ${have.rate * 8} → ${want.rate * 8} bit/s`);
  for (const x of have.extra ?? []) out.push(`${x} set`);
  return out;
}
