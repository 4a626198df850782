// Reconfiguring pools and ranges under live allocations.
import { afterEach, describe, expect, it } from 'vitest';
import { expectError, expectSane, MINUTE, p2p, POOLS, rig, type Rig } from '../../test/ipam/support.js';
import type { PoolSpec } from './types.js';

let r: Rig | undefined;
afterEach(async () => {
  if (r) await expectSane(r.store);
  r = undefined;
});
const setup = async (...args: Parameters<typeof rig>): Promise<Rig> => (r = await rig(...args));
const without = (name: string): PoolSpec[] => POOLS.filter((p) => p.name !== name);
const replace = (name: string, change: Partial<PoolSpec>): PoolSpec[] => POOLS.map((p) => (p.name === name ? { ...p, ...change } : p));

describe('configure', () => {
  it('re-applying the same configuration writes nothing', async () => {
    const { ipam, store } = await setup();
    const before = (await store.read([])).revision;
    const resolved = await ipam.configure({ pools: POOLS });
    expect((await store.read([])).revision).toBe(before);
    expect(await ipam.getConfig()).toEqual(resolved);
  });

  it('rejects malformed configuration as INVALID_ARGUMENT without writing', async () => {
    const { ipam } = await setup();
    await expectError(ipam.configure({ pools: [...POOLS, { name: 'dup', prefix: '192.0.2.128/25', class: 'local' }] }), 'VISP_INVALID_SPEC', 'pool "dup": 192.0.2.128/25 overlaps pool "priv-v4" 192.0.2.0/24');
    expect((await ipam.getConfig())!.pools).toHaveLength(POOLS.length);
  });

  it.each([
    ['removing a pool', () => without('pub-v4'), 'pool "pub-v4": cannot remove it: held by slice "s"'],
    ['changing its class', () => replace('pub-v4', { class: 'local' }), 'pool "pub-v4": cannot change class public → local: held by slice "s"'],
    ['shrinking it away from a live block', () => replace('pub-v4', { prefix: '198.51.100.128/25' }), 'pool "pub-v4": cannot change prefix to 198.51.100.128/25: held by slice "s"'],
  ])('refuses %s while a block is live (FAILED_PRECONDITION, with the diff)', async (_what, pools, message) => {
    const { ipam } = await setup();
    await ipam.allocate({ slice: 's', links: [p2p('l', { ipv4: { class: 'public' } })] });
    const err = await expectError(ipam.configure({ pools: pools() }), 'VISP_INCOMPATIBLE_STATE', message);
    expect((err as unknown as { diff: string[] }).diff).toEqual([expect.stringContaining(message)]);
  });

  it('refuses removing a pool while its blocks cool down, and allows it after, deleting the records', async () => {
    const { ipam, clock, store } = await setup();
    await ipam.allocate({ slice: 's', links: [p2p('l', { ipv4: { class: 'public' } })] });
    await ipam.release('s');
    await expectError(ipam.configure({ pools: without('pub-v4') }), 'VISP_INCOMPATIBLE_STATE', 'cooling down after slice "s" until 2030-01-01T00:10:00.000Z');
    clock.advance(10 * MINUTE);
    await ipam.configure({ pools: without('pub-v4') });
    expect((await store.read([{ prefix: 'ipam/blocks/pub-v4/' }])).results[0]).toEqual([]);
  });

  it('allows growing a pool around its live blocks and allocates from the new space', async () => {
    const { ipam } = await setup({ pools: [{ name: 'p', prefix: '192.0.2.0/26', class: 'public' }] });
    await ipam.allocate({ slice: 'a', links: [], blocks: [{ class: 'public', family: 'ipv4', prefixLength: 26 }] });
    await expectError(ipam.allocate({ slice: 'b', links: [] , blocks: [{ class: 'public', family: 'ipv4' }]}), 'VISP_POOL_EXHAUSTED', 'pool "p": exhausted');
    await ipam.configure({ pools: [{ name: 'p', prefix: '192.0.2.0/24', class: 'public' }] });
    const b = await ipam.allocate({ slice: 'b', links: [], blocks: [{ class: 'public', family: 'ipv4' }] });
    expect(b.blocks[0]!.prefix).toBe('192.0.2.64/28');
  });

  it('refuses identifier ranges that leave out live identifiers, allows ones that keep them', async () => {
    const { ipam } = await setup({ identifiers: { vni: [{ first: 100, last: 199 }] } });
    await ipam.allocate({ slice: 's', links: [p2p('l', { identifier: 'vni' })] });
    await expectError(
      ipam.configure({ pools: POOLS, identifiers: { vni: [{ first: 150, last: 199 }] } }),
      'VISP_INCOMPATIBLE_STATE',
      'vni: new ranges 150-199 leave out 100: held by slice "s"',
    );
    await ipam.configure({ pools: POOLS, identifiers: { vni: [{ first: 100, last: 100 }, { first: 5000, last: 5009 }] } });
    const b = await ipam.allocate({ slice: 'b', links: [p2p('l', { identifier: 'vni' })] });
    expect(b.links[0]!.vni).toBe(5000);
  });

  it('changed limits apply to the next allocation', async () => {
    const { ipam } = await setup();
    await ipam.configure({ pools: replace('pub-v4', { defaultBlockLength: 27 }) });
    const a = await ipam.allocate({ slice: 's', links: [p2p('l', { ipv4: { class: 'public' } })] });
    expect(a.blocks[0]!.prefix).toBe('198.51.100.0/27');
  });

  it('a configuration change between two allocations of another IPAM instance is picked up', async () => {
    const a = await setup();
    const { createIpam } = await import('./ipam.js');
    const other = createIpam({ store: a.store, clock: a.clock });
    await other.allocate({ slice: 'x', links: [p2p('l', { ipv4: { class: 'public' } })] });
    await a.ipam.configure({ pools: replace('pub-v4', { defaultBlockLength: 26 }) });
    const y = await other.allocate({ slice: 'y', links: [p2p('l', { ipv4: { class: 'public' } })] });
    expect(y.blocks[0]!.prefix).toBe('198.51.100.64/26');
  });
});
