// The qdisc tree per direction and its codecs, without a kernel: shapes,
// sizes (burst, queue, netem's bandwidth-delay product) and encode → decode
// round trips; the kernel round trip is test/kernel/qdisc.test.ts.
import { describe, expect, it } from 'vitest';
import { TC_H, type Qdisc } from '../netlink/tc.js';
import { decodeNetem, encodeNetem, PROBABILITY_MAX } from './netem.js';
import { decodeTbf, encodeTbf } from './tbf.js';
import { diffShaper, HANDLE, NETEM_MIN_LIMIT, ORDER_RATE, qdiscSpecOf, shaperFor, type ShaperQdisc } from './tree.js';

/** What a dump would give back for the qdiscs visp asked for. */
const asDumped = (qs: readonly ShaperQdisc[], index = 7): Qdisc[] => qs.map((q) => {
  const s = qdiscSpecOf(q, index);
  return { index, handle: s.handle, parent: s.parent, kind: s.kind, ...(s.options ? { options: s.options } : {}) };
});

describe('shaperFor: one direction’s qdiscs', () => {
  it('capacity only: tbf at the root with 2 ms of bucket (at least two frames) and 50 ms of queue, a bfifo of that under it', () => {
    const q = shaperFor({ capacity: 100e6 }, 1450);
    expect(q).toEqual([
      { kind: 'tbf', parent: TC_H.ROOT, handle: HANDLE.tbf, tbf: { rate: 12_500_000, burst: 25_000, limit: 25_000 + 625_000 } },
      { kind: 'bfifo', parent: 0x10001, handle: HANDLE.bfifo, limit: 650_000 },
    ]);
    // At 10 Mbit/s 2 ms is under two frames: the bucket holds two.
    expect(shaperFor({ capacity: 10e6 }, 1450)[0]).toMatchObject({ tbf: { burst: 2 * 1464 } });
  });

  it('capacity with impairments: netem under the tbf, its queue the bandwidth-delay product plus the tbf’s queue (in frames)', () => {
    const [tbf, netem] = shaperFor({ capacity: 1e9, latency: 20_000, loss: 0.01 }, 1500);
    expect(tbf).toMatchObject({ kind: 'tbf', handle: HANDLE.tbf });
    expect(netem).toMatchObject({ kind: 'netem', parent: 0x10001, handle: HANDLE.netemUnderTbf });
    const limit = (netem as { netem: { limit: number } }).netem.limit;
    // 1 Gbit/s × 20 ms = 2.5 MB, + the 6.5 MB tbf queue, in 1514-byte frames.
    expect(limit).toBe(Math.ceil((125e6 * 0.02 + (250_000 + 6_250_000)) / 1514));
  });

  it('impairments only: netem at the root; jitter keeps packets in order (netem’s own rate), none without jitter', () => {
    const [n] = shaperFor({ latency: 20_000, jitter: 5000 }, 1500) as [{ kind: string; handle: number; netem: { rate: number; latencyNs: number; jitterNs: number; limit: number } }];
    expect(n).toMatchObject({ kind: 'netem', handle: HANDLE.netem, netem: { rate: ORDER_RATE, latencyNs: 20e6, jitterNs: 5e6 } });
    // No capacity: sized as if 10 Gbit/s, 25 ms.
    expect(n.netem.limit).toBe(Math.ceil((1.25e9 * 0.025) / 1514));
    expect(shaperFor({ loss: 0.1 }, 1500)[0]).toMatchObject({ netem: { rate: 0, limit: NETEM_MIN_LIMIT, loss: Math.round(0.1 * PROBABILITY_MAX) } });
    expect(shaperFor({ latency: 1000, reorder: 0.25 }, 1500)[0]).toMatchObject({ netem: { gap: 1, reorder: Math.round(0.25 * PROBABILITY_MAX) } });
  });

  it('loss 100% is a blackhole whatever else is asked; nothing asked is nothing', () => {
    expect(shaperFor({ capacity: 1e6, latency: 1000, loss: 1 }, 1500)).toEqual([{ kind: 'blackhole', parent: TC_H.ROOT, handle: HANDLE.blackhole }]);
    expect(shaperFor(undefined, 1500)).toEqual([]);
    expect(shaperFor({ capacity: 0 }, 1500)).toEqual([]);
  });
});

describe('codecs round-trip', () => {
  it.each([
    { rate: 1_250_000, burst: 2928, limit: 65_428 },
    { rate: 5_000_000_000, burst: 10_000_000, limit: 0xffffffff },   // needs TCA_TBF_RATE64
  ])('tbf %j', (p) => {
    const back = decodeTbf(encodeTbf(p))!;
    expect(back.rate).toBe(p.rate);
    expect(back.limit).toBe(p.limit);
    expect(Math.abs(back.burst - p.burst)).toBeLessThanOrEqual((p.rate * 64) / 1e9 + 1);
  });

  it.each([
    { latencyNs: 20e6, jitterNs: 5e6, loss: 123, corrupt: 0, reorder: 0, gap: 0, limit: 1000, rate: 0 },
    { latencyNs: 0, jitterNs: 0, loss: PROBABILITY_MAX, corrupt: 7, reorder: 9, gap: 1, limit: 5, rate: ORDER_RATE },
  ])('netem %j', (p) => expect(decodeNetem(encodeNetem(p))).toEqual(p));
});

describe('diffShaper', () => {
  const want = shaperFor({ capacity: 10e6, latency: 1000 }, 1500);
  it('as wanted: nothing', () => expect(diffShaper(want, asDumped(want))).toEqual({ why: [], rebuild: false }));
  it('a default root qdisc (handle 0) is no shaper', () => {
    const noqueue: Qdisc = { index: 7, handle: 0, parent: TC_H.ROOT, kind: 'noqueue' };
    expect(diffShaper([], [noqueue])).toEqual({ why: [], rebuild: false });
    expect(diffShaper(want, [noqueue]).why).toEqual(['no tbf at the root']);
  });
  it('a value changed: named, changed in place', () => {
    const other = asDumped(shaperFor({ capacity: 20e6, latency: 1000 }, 1500));
    expect(diffShaper(want, other)).toEqual({ why: ['tbf 1: rate 20000000 → 10000000 bit/s', 'tbf 1: burst 5000 → 3028 bytes', 'tbf 1: limit 130000 → 65528 bytes'], rebuild: false });
  });
  it('a foreign qdisc under ours: a rebuild', () => {
    const extra: Qdisc = { index: 7, handle: 0x770000, parent: 0x100001, kind: 'pfifo' };
    expect(diffShaper(want, [...asDumped(want), extra])).toEqual({ why: ['pfifo 77: is not visp\'s'], rebuild: true });
  });
  it('unshaped wanted, a shaper there: it goes', () => {
    expect(diffShaper([], asDumped(want)).why).toEqual(['tbf 1: at the root, and the link asks for no shaping']);
  });
});
