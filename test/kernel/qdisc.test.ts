// The shaper qdiscs through our netlink layer, round-tripped through the
// real kernel: create, read back with our decoder and with iproute2's
// (independent), change in place, delete. netem is asserted where the
// kernel has it (the VM lane) and refused with its module named where it
// has not (this host): both outcomes are checked against iproute2, never assumed.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkGet } from '../../src/netlink/link.js';
import { NetlinkSocket } from '../../src/netlink/socket.js';
import { qdiscList, TC_H } from '../../src/netlink/tc.js';
import { probeShapers } from '../../src/shape/probe.js';
import { decodeTbf } from '../../src/shape/tbf.js';
import { decodeNetem } from '../../src/shape/netem.js';
import { applyShaper, diffShaper, egressQdiscs, shaperFor } from '../../src/shape/tree.js';
import { ipIn, kernelSkipReason, makeNetns } from '../helpers/netns.js';

/** What iproute2 says is on a device. */
const tcShow = (ns: string, dev: string): Array<Record<string, any>> =>
  JSON.parse(spawnSync('tc', ['-n', ns, '-j', 'qdisc', 'show', 'dev', dev], { encoding: 'utf8' }).stdout) as Array<Record<string, any>>;

/** Whether this kernel has netem, asked of iproute2. */
function kernelHasNetem(): boolean {
  const ns = makeNetns('qnet');
  ipIn(ns, 'link', 'set', 'lo', 'up');
  return spawnSync('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms']).status === 0;
}

describe.skipIf(kernelSkipReason)('shaper qdiscs on the real kernel', () => {
  let ns: string, s: NetlinkSocket, index: number;
  beforeAll(async () => {
    ns = makeNetns('qd');
    ipIn(ns, 'link', 'add', 'sh0', 'type', 'veth', 'peer', 'name', 'sh1');
    ipIn(ns, 'link', 'set', 'sh0', 'up');
    s = new NetlinkSocket({ netns: ns });
    index = (await linkGet(s, 'sh0'))!.index;
  });
  afterAll(() => s?.close());

  const have = async () => egressQdiscs(await qdiscList(s, { index }));

  it('tbf with its bfifo: created, read back exactly, and what iproute2 sees', async () => {
    const want = shaperFor({ capacity: 100_000_000 }, 1500);
    expect(want.map((q) => q.kind)).toEqual(['tbf', 'bfifo']);
    await applyShaper(s, index, want, false);
    const got = await have();
    expect(diffShaper(want, got)).toEqual({ why: [], rebuild: false });
    const tbf = got.find((q) => q.kind === 'tbf')!;
    expect(decodeTbf(tbf.options!)).toMatchObject({ rate: 12_500_000, limit: 25_000 + 625_000 });
    const tc = tcShow(ns, 'sh0');
    expect(tc.find((q) => q.kind === 'tbf')).toMatchObject({ handle: '1:', root: true, options: { rate: 12_500_000, burst: 25_000 } });
    expect(tc.find((q) => q.kind === 'bfifo')).toMatchObject({ handle: '11:', parent: '1:1', options: { limit: 650_000 } });
  });

  it('a change of rate is made in place: the same tbf, its child kept', async () => {
    const want = shaperFor({ capacity: 10_000_000 }, 1500);
    const before = await have();
    expect(diffShaper(want, before).why.join('; ')).toMatch(/tbf 1: rate 100000000 → 10000000 bit\/s/);
    await applyShaper(s, index, want, false);
    expect(diffShaper(want, await have())).toEqual({ why: [], rebuild: false });
    expect(tcShow(ns, 'sh0').find((q) => q.kind === 'tbf')!.options.rate).toBe(1_250_000);
  });

  it('64-bit rates (from 2^32 bytes/s) round-trip', async () => {
    const want = shaperFor({ capacity: 40_000_000_000 }, 9000);
    await applyShaper(s, index, want, false);
    const got = await have();
    expect(diffShaper(want, got).why).toEqual([]);
    expect(decodeTbf(got.find((q) => q.kind === 'tbf')!.options!)!.rate).toBe(5_000_000_000);
  });

  it('a foreign qdisc under ours is seen, and a rebuild drops it', async () => {
    const want = shaperFor({ capacity: 10_000_000 }, 1500);
    await applyShaper(s, index, want, false);
    // Someone replaces our queue by hand.
    spawnSync('tc', ['-n', ns, 'qdisc', 'replace', 'dev', 'sh0', 'parent', '1:1', 'handle', '77:', 'pfifo', 'limit', '5']);
    const d = diffShaper(want, await have());
    expect(d.why.join('; ')).toMatch(/pfifo 77: under tbf 1: → bfifo 11:/);
    await applyShaper(s, index, want, d.rebuild);
    expect(diffShaper(want, await have()).why).toEqual([]);
  });

  it('loss 100%: blackhole at the root replaces the tbf tree; packets are dropped', async () => {
    const want = shaperFor({ capacity: 10_000_000, loss: 1 }, 1500);
    expect(want.map((q) => q.kind)).toEqual(['blackhole']);
    const d = diffShaper(want, await have());
    expect(d.why.join('; ')).toMatch(/tbf 1: at the root → blackhole 3:/);
    await applyShaper(s, index, want, d.rebuild);
    expect(diffShaper(want, await have()).why).toEqual([]);
    expect(tcShow(ns, 'sh0').map((q) => q.kind)).toEqual(['blackhole']);
  });

  it('unshaped: the root goes and the device has its default back; deleting again is a no-op', async () => {
    const d = diffShaper([], await have());
    expect(d.why.join()).toMatch(/blackhole 3: at the root/);
    await applyShaper(s, index, [], false);
    expect(diffShaper([], await have()).why).toEqual([]);
    await applyShaper(s, index, [], false);
    expect((await qdiscList(s, { index })).find((q) => q.parent === TC_H.ROOT)?.handle ?? 0).toBe(0);
  });

  it('netem: round-trips where the kernel has it; refused naming sch_netem where not', async () => {
    const want = shaperFor({ capacity: 50_000_000, latency: 20_000, jitter: 2000, loss: 0.005, reorder: 0.01, corruption: 0.001 }, 1450);
    expect(want.map((q) => q.kind)).toEqual(['tbf', 'netem']);
    const probe = (await probeShapers()).find((x) => x.qdisc === 'netem')!;
    if (kernelHasNetem()) {
      expect(probe.supported).toBe(true);
      await applyShaper(s, index, want, false);
      const got = await have();
      expect(diffShaper(want, got).why).toEqual([]);
      const n = decodeNetem(got.find((q) => q.kind === 'netem')!.options!)!;
      expect(n).toMatchObject({ latencyNs: 20_000_000, jitterNs: 2_000_000, gap: 1, rate: 12_500_000_000 });
      expect(n.extra).toBeUndefined();
      const tc = tcShow(ns, 'sh0').find((q) => q.kind === 'netem')!;
      expect(tc).toMatchObject({ handle: '10:', parent: '1:1' });
      expect(tc.options.delay).toMatchObject({ delay: 0.02, jitter: 0.002 });
      expect(tc.options['loss-random'].loss).toBeCloseTo(0.005, 6);
      // Dropping the impairments in place puts the tbf's queue back.
      const back = shaperFor({ capacity: 50_000_000 }, 1450);
      await applyShaper(s, index, back, diffShaper(back, await have()).rebuild);
      expect(diffShaper(back, await have()).why).toEqual([]);
    } else {
      expect(probe).toMatchObject({ supported: false, reason: expect.stringMatching(/kernel module sch_netem missing \(ENOENT/) });
      await expect(applyShaper(s, index, want, false)).rejects.toThrow(/netem/);
    }
    await applyShaper(s, index, [], false);
  });
});
