// Release, cooldown, expiry and provisioning, with a clock the tests move.
import { afterEach, describe, expect, it } from 'vitest';
import { expectError, expectSane, MINUTE, p2p, rig, type Rig } from '../../test/ipam/support.js';
import { runSweeper } from './sweeper.js';
import type { SliceSpec } from './types.js';

let r: Rig | undefined;
afterEach(async () => {
  if (r) await expectSane(r.store);
  r = undefined;
});
const setup = async (...args: Parameters<typeof rig>): Promise<Rig> => (r = await rig(...args));

// A slice holding all of pub-v4 and the only GRE key, so any reuse is visible.
const whole = (slice: string): SliceSpec => ({
  slice,
  links: [p2p('l', { ipv4: { class: 'public' }, identifier: 'greKey' })],
  blocks: [{ class: 'public', family: 'ipv4', prefix: '198.51.100.0/24' }],
  groupId: false,
});
const ONE_KEY = { identifiers: { greKey: [{ first: 7, last: 7 }] } };

describe('release and cooldown', () => {
  it('release is idempotent and reports when the cooldown ends', async () => {
    const { ipam, clock } = await setup();
    await ipam.allocate({ slice: 's', links: [p2p('l', { ipv4: { class: 'private' } })] });
    expect(await ipam.release('s')).toEqual({ slice: 's', released: true, cooldownUntil: clock.now() + 10 * MINUTE });
    expect(await ipam.release('s')).toEqual({ slice: 's', released: false });
    expect(await ipam.release('never-existed')).toEqual({ slice: 'never-existed', released: false });
    expect(await ipam.get('s')).toBeUndefined();
  });

  it('list shows every slice with an allocation, without links', async () => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 'a', links: [p2p('l', { ipv4: { class: 'private' } })] });
    await ipam.allocate({ slice: 'b', links: [] });
    await ipam.markProvisioned('b');
    await ipam.release('c');
    const { links: _links, ...summaryA } = a;
    expect(await ipam.list()).toEqual([summaryA, expect.objectContaining({ slice: 'b', state: 'provisioned' })]);
  });

  it.each([
    ['one millisecond before the cooldown ends: refused', 10 * MINUTE - 1, false],
    ['when the cooldown ends: allocatable', 10 * MINUTE, true],
  ])('space and identifiers: %s', async (_what, wait, reusable) => {
    const { ipam, clock } = await setup(ONE_KEY);
    const first = await ipam.allocate(whole('a'));
    await ipam.release('a');
    clock.advance(wait);
    if (!reusable) {
      // A refusal that lasts: FAILED_PRECONDITION (not UNAVAILABLE, which clients retry at once), saying when it frees.
      const blockErr = await expectError(
        ipam.allocate(whole('b')),
        'VISP_INCOMPATIBLE_STATE',
        'blocks[0].prefix: 198.51.100.0/24 overlaps 198.51.100.0/24, cooling down until 2030-01-01T00:10:00.000Z (frees in 1 s) after a slice released it',
      );
      expect(blockErr).toMatchObject({ freesAt: Date.parse('2030-01-01T00:10:00.000Z'), retryAfterMs: 1 });
      // The identifier cools down on its own schedule too: exhausted until then.
      const idErr = await expectError(ipam.allocate({ slice: 'c', links: [p2p('l', { identifier: 'greKey' })], groupId: false }), 'VISP_POOL_EXHAUSTED',
        'greKey range 7: exhausted: asked for 1 GRE keys, 0 free; enough are cooling down until 2030-01-01T00:10:00.000Z (frees in 1 s)');
      expect(idErr).toMatchObject({ field: 'links', freesAt: Date.parse('2030-01-01T00:10:00.000Z'), retryAfterMs: 1 });
      return;
    }
    const second = await ipam.allocate(whole('b'));
    expect(second.blocks).toEqual(first.blocks);
    expect(second.links[0]!.greKey).toBe(7);
  });

  it('auto allocation skips cooling space instead of failing', async () => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 'a', links: [p2p('l', { ipv4: { class: 'public' } })] });
    await ipam.release('a');
    const b = await ipam.allocate({ slice: 'b', links: [p2p('l', { ipv4: { class: 'public' } })] });
    expect(a.blocks[0]!.prefix).toBe('198.51.100.0/28');
    expect(b.blocks[0]!.prefix).toBe('198.51.100.16/28');
  });

  it('an explicit address in cooling space is FAILED_PRECONDITION, saying when it frees (message, freesAt, retryAfterMs)', async () => {
    const { ipam, clock } = await setup();
    await ipam.allocate({ slice: 'a', links: [p2p('l', { ipv4: { class: 'public' } })] });
    await ipam.release('a');
    clock.advance(2 * MINUTE + 30_000);
    const err = await expectError(
      ipam.allocate({ slice: 'b', links: [{ name: 'l', interfaces: [{ name: 'x', ipv4: '198.51.100.1' }, { name: 'y' }], ipv4: { class: 'public' } }] }),
      'VISP_INCOMPATIBLE_STATE',
      'links[0].ipv4: 198.51.100.0/31 overlaps 198.51.100.0/28, cooling down until 2030-01-01T00:10:00.000Z (frees in 7 min 30 s) after a slice released it',
    );
    expect(err).toMatchObject({ field: 'links[0].ipv4', freesAt: Date.parse('2030-01-01T00:10:00.000Z'), retryAfterMs: 7 * MINUTE + 30_000 });
    expect(err.message).not.toContain('"a"');
  });

  it('identifiers: exhausted while some cool down says when enough are free; never, when the ranges are too small', async () => {
    const { ipam, clock } = await setup({ identifiers: { vni: [{ first: 1, last: 3 }] } });
    await ipam.allocate({ slice: 'a', links: [p2p('l', { identifier: 'vni' })], groupId: false });
    clock.advance(MINUTE);
    await ipam.allocate({ slice: 'b', links: [p2p('l', { identifier: 'vni' })], groupId: false });
    await ipam.release('a');
    clock.advance(MINUTE);
    await ipam.release('b');
    const two = (slice: string, n: number): SliceSpec => ({ slice, links: Array.from({ length: n }, (_, i) => p2p(`l${i}`, { identifier: 'vni' })), groupId: false });
    // 1 free; a's VNI frees at 00:11, b's at 00:12: two are free once a's has.
    const err = await expectError(ipam.allocate(two('c', 2)), 'VISP_POOL_EXHAUSTED', 'asked for 2 VNIs, 1 free; enough are cooling down until 2030-01-01T00:11:00.000Z (frees in 9 min)');
    expect(err).toMatchObject({ freesAt: Date.parse('2030-01-01T00:11:00.000Z'), retryAfterMs: 9 * MINUTE });
    const all = await expectError(ipam.allocate(two('d', 3)), 'VISP_POOL_EXHAUSTED', 'until 2030-01-01T00:12:00.000Z');
    expect(all.freesAt).toBe(Date.parse('2030-01-01T00:12:00.000Z'));
    const never = await expectError(ipam.allocate(two('e', 4)), 'VISP_POOL_EXHAUSTED', 'vni range 1-3: exhausted: asked for 4 VNIs, 1 free');
    expect(never.message).not.toContain('cooling');
    expect(never.freesAt).toBeUndefined();
  });

  it('a cooldown of 0 makes released space allocatable at once', async () => {
    const { ipam } = await setup({ ...ONE_KEY, cooldownMs: 0 });
    await ipam.allocate(whole('a'));
    expect(await ipam.release('a')).toEqual({ slice: 'a', released: true });
    expect((await ipam.allocate(whole('b'))).links[0]!.greKey).toBe(7);
  });

  it('the sweeper deletes cooldown records once they run out, and only then', async () => {
    const { ipam, clock, store } = await setup();
    await ipam.allocate({ slice: 'a', links: [p2p('l', { ipv4: { class: 'public' }, identifier: 'vni' })] });
    await ipam.release('a');
    const count = async () => (await store.read([{ prefix: 'ipam/blocks/' }, { prefix: 'ipam/ids/' }])).results.flat().length;
    expect(await count()).toBe(3); // block, VNI run, group id run
    expect(await ipam.sweep()).toEqual({ expired: [], collected: 0 });
    clock.advance(10 * MINUTE);
    expect(await ipam.sweep()).toEqual({ expired: [], collected: 3 });
    expect(await count()).toBe(0);
  });

  it('usage counts live and cooling blocks', async () => {
    const { ipam, clock } = await setup();
    await ipam.allocate({ slice: 'a', links: [p2p('l', { ipv4: { class: 'public' } })] });
    await ipam.allocate({ slice: 'b', links: [p2p('l', { ipv4: { class: 'public' } })] });
    await ipam.release('a');
    const pub = async () => (await ipam.usage()).find((u) => u.pool === 'pub-v4');
    expect(await pub()).toEqual({ pool: 'pub-v4', prefix: '198.51.100.0/24', class: 'public', family: 'ipv4', liveBlocks: 1, coolingBlocks: 1, freeAddresses: 224n, largestFreeLength: 25 });
    clock.advance(10 * MINUTE);
    expect(await pub()).toMatchObject({ liveBlocks: 1, coolingBlocks: 0, freeAddresses: 240n });
  });
});

describe('expiry and provisioning', () => {
  it.each([
    ['not yet due', 10 * MINUTE - 1, []],
    ['due', 10 * MINUTE, ['s']],
  ])('the sweep releases an unprovisioned allocation when %s', async (_what, wait, expired) => {
    const { ipam, clock } = await setup();
    const a = await ipam.allocate({ slice: 's', links: [p2p('l', { ipv4: { class: 'private' } })] });
    expect(a).toMatchObject({ state: 'allocated', allocatedAt: clock.now(), expiresAt: clock.now() + 10 * MINUTE });
    clock.advance(wait);
    expect((await ipam.sweep()).expired).toEqual(expired);
    expect((await ipam.get('s')) === undefined).toBe(expired.length > 0);
  });

  it('a provisioned allocation does not expire', async () => {
    const { ipam, clock } = await setup({ allocationTtlMs: MINUTE });
    await ipam.allocate({ slice: 's', links: [] });
    clock.advance(30_000);
    const p = await ipam.markProvisioned('s');
    expect(p).toMatchObject({ state: 'provisioned', provisionedAt: clock.now() });
    expect(p.expiresAt).toBeUndefined();
    expect(await ipam.markProvisioned('s')).toEqual(p); // idempotent
    clock.advance(60 * MINUTE);
    expect(await ipam.sweep()).toEqual({ expired: [], collected: 0 });
    expect(await ipam.get('s')).toEqual(p);
  });

  it('provisioning after expiry is refused even before the sweep ran', async () => {
    const { ipam, clock } = await setup();
    await ipam.allocate({ slice: 's', links: [] });
    clock.advance(10 * MINUTE);
    await expectError(ipam.markProvisioned('s'), 'VISP_INCOMPATIBLE_STATE', 'slice "s": allocation expired at 2030-01-01T00:10:00.000Z before it was provisioned; allocate again');
  });

  it('provisioning an unknown slice is NOT_FOUND', async () => {
    const { ipam } = await setup();
    await expectError(ipam.markProvisioned('ghost'), 'VISP_NOT_FOUND', 'slice "ghost": no allocation');
  });

  it('runSweeper sweeps on its interval until aborted', async () => {
    const { ipam, clock } = await setup({ allocationTtlMs: 1000 });
    await ipam.allocate({ slice: 's', links: [] });
    clock.advance(1000);
    const ac = new AbortController();
    const seen: string[][] = [];
    const loop = runSweeper(ipam, { signal: ac.signal, intervalMs: 5, onSweep: (res) => { seen.push([...res.expired]); if (seen.length >= 2) ac.abort(); } });
    await loop;
    expect(seen[0]).toEqual(['s']);
    expect(seen[1]).toEqual([]);
  });

  it('runSweeper reports a failing sweep and keeps going', async () => {
    let calls = 0;
    const ac = new AbortController();
    const errors: unknown[] = [];
    const fake = {
      sweep: async () => {
        calls++;
        if (calls === 1) throw new Error('store locked');
        ac.abort();
        return { expired: [], collected: 0 };
      },
    };
    await runSweeper(fake, { signal: ac.signal, intervalMs: 1, onError: (e) => errors.push(e) });
    expect(calls).toBe(2);
    expect(errors.map((e) => (e as Error).message)).toEqual(['store locked']);
  });
});
