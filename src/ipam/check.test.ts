// The invariant checker must see every kind of damage the crash and
// concurrency tests rely on it to find.
import { describe, expect, it } from 'vitest';
import { p2p, rig } from '../../test/ipam/support.js';
import type { Store } from '../store/index.js';
import { checkInvariants } from './check.js';

async function healthy(): Promise<Store> {
  const { ipam, store } = await rig();
  await ipam.allocate({
    slice: 's',
    links: [p2p('a', { ipv4: { class: 'public' }, identifier: 'greKey' }), p2p('b', { ipv4: { class: 'public' }, ipv6: { class: 'local' }, identifier: 'vni' })],
  });
  await ipam.allocate({ slice: 't', links: [p2p('a', { ipv4: { class: 'public' }, pairs: { space: 'etherip', pairs: [['198.18.0.1', '198.18.0.2']] } })] });
  return store;
}

async function edit(store: Store, key: string, change: ((v: any) => unknown) | 'delete'): Promise<void> {
  const e = (await store.read([{ key }])).results[0]![0];
  if (!e) throw new Error(`no ${key}`);
  const op =
    change === 'delete'
      ? { type: 'delete' as const, key, expect: e.modRevision }
      : { type: 'put' as const, key, value: JSON.stringify(change(JSON.parse(e.value))), expect: e.modRevision };
  const res = await store.commit({ compares: [], ops: [op] });
  if (!res.ok) throw new Error('edit conflicted');
}

async function add(store: Store, key: string, value: unknown): Promise<void> {
  await store.commit({ compares: [], ops: [{ type: 'put', key, value: JSON.stringify(value), expect: 0 }] });
}

describe('checkInvariants', () => {
  it('finds nothing wrong in a healthy store', async () => {
    expect(await checkInvariants(await healthy())).toEqual([]);
  });

  it.each<[string, (s: Store) => Promise<void>, string]>([
    ['overlapping blocks', (s) => add(s, 'ipam/blocks/pub-v4/198.51.100.8_29', { pool: 'pub-v4', prefix: '198.51.100.8/29', class: 'public', family: 'ipv4', slice: 'x', state: 'cooldown', until: 1 }), 'overlaps ipam/blocks/pub-v4/198.51.100.0_28'],
    ['a block outside its pool', (s) => add(s, 'ipam/blocks/pub-v4/192.0.2.0_28', { pool: 'pub-v4', prefix: '192.0.2.0/28', class: 'public', family: 'ipv4', slice: 'x', state: 'cooldown', until: 1 }), 'is not inside public pool 198.51.100.0/24'],
    ['a header without links (half-allocation)', (s) => edit(s, 'ipam/slice-links/s', 'delete'), 'header without links (half-allocation)'],
    ['links without a header', (s) => edit(s, 'ipam/slices/t', 'delete'), 'links without a slice header (half-allocation)'],
    ['a live block nobody names (leak)', (s) => edit(s, 'ipam/slices/t', (h) => ({ ...h, blocks: [] })), 'live block not named by slice "t" (leak)'],
    ['a header naming a block it does not hold', (s) => edit(s, 'ipam/blocks/pub-v4/198.51.100.16_28', (b) => ({ ...b, state: 'cooldown', until: 1 })), 'names block 198.51.100.16/28 in pool "pub-v4", which it does not hold'],
    ['overlapping identifier runs', (s) => add(s, 'ipam/ids/greKey/0000000000', { kind: 'greKey', start: 0, count: 2, slice: 'x', state: 'cooldown', until: 1 }), 'ipam/ids/greKey/0000000001: overlaps ipam/ids/greKey/0000000000'],
    ['a subnet outside the slice block', (s) => edit(s, 'ipam/slice-links/s', (l) => ({ links: [{ ...l.links[0], ipv4: { class: 'public', prefix: '198.51.100.200/31' }, interfaces: [{ name: 'x', ipv4: '198.51.100.200/31' }, { name: 'y', ipv4: '198.51.100.201/31' }] }, l.links[1]] })), 'is outside the slice\'s public ipv4 block'],
    ['two interfaces with one address', (s) => edit(s, 'ipam/slice-links/s', (l) => ({ links: [{ ...l.links[0], interfaces: [l.links[0].interfaces[0], { ...l.links[0].interfaces[1], ipv4: l.links[0].interfaces[0].ipv4 }] }, l.links[1]] })), 'is also a/a:a\'s'],
    ['the broadcast address of a LAN', (s) => edit(s, 'ipam/slice-links/s', (l) => ({ links: [{ ...l.links[0], shape: 'lan', ipv4: { class: 'public', prefix: '198.51.100.0/30' }, interfaces: [{ name: 'x', ipv4: '198.51.100.3/30' }] }, l.links[1]] })), 'is the broadcast address'],
    ['an identifier used twice', (s) => edit(s, 'ipam/slice-links/s', (l) => ({ links: [l.links[0], { ...l.links[1], vni: undefined, greKey: l.links[0].greKey }] })), 'greKey: an identifier is used twice'],
    ['an identifier held but unused (leak)', (s) => edit(s, 'ipam/slice-links/s', (l) => ({ links: [{ ...l.links[0], greKey: undefined }, l.links[1]] })), 'greKey: holds 1 but uses 0 (leak)'],
    ['a missing guard key', (s) => edit(s, 'ipam/block-sets/pub-v4', 'delete'), 'pool "pub-v4" has blocks but no guard key'],
    ['an unknown key', (s) => add(s, 'ipam/stray', {}), 'unknown key under ipam/'],
    // Underlay pairs: one canonical key per pair is what makes a second holder impossible.
    ['a pair in descending order (a second key for one pair)', (s) => add(s, 'ipam/pairs/etherip/198.18.0.2_198.18.0.1', { space: 'etherip', a: '198.18.0.2', b: '198.18.0.1', slice: 'x', link: 'l', state: 'cooldown', until: 1 }), 'is not in ascending order'],
    ['a pair not in canonical form', (s) => add(s, 'ipam/pairs/etherip/2001:DB8::1_2001:db8::2', { space: 'etherip', a: '2001:DB8::1', b: '2001:db8::2', slice: 'x', link: 'l', state: 'cooldown', until: 1 }), 'is not in canonical form'],
    ['a pair under another pair\'s key', (s) => add(s, 'ipam/pairs/etherip/198.18.0.1_198.18.0.3', { space: 'etherip', a: '198.18.0.1', b: '198.18.0.2', slice: 'x', link: 'l', state: 'cooldown', until: 1 }), 'which belongs under ipam/pairs/etherip/198.18.0.1_198.18.0.2'],
    ['a live pair nobody names (leak)', (s) => edit(s, 'ipam/slices/t', (h) => ({ ...h, pairs: [] })), 'live pair not named by slice "t" (leak)'],
    ['a header naming a pair it does not hold', (s) => edit(s, 'ipam/pairs/etherip/198.18.0.1_198.18.0.2', (p) => ({ ...p, state: 'cooldown', until: 1 })), 'names etherip pair 198.18.0.1 198.18.0.2, which it does not hold'],
    ['a link carrying a pair another slice holds', (s) => edit(s, 'ipam/slice-links/s', (l) => ({ links: [{ ...l.links[0], pairs: { space: 'etherip', pairs: [['198.18.0.1', '198.18.0.2']] } }, l.links[1]] })), 'link "a": etherip pair 198.18.0.1 198.18.0.2 is not held by the slice'],
    ['a pair held but carried by no link (leak)', (s) => edit(s, 'ipam/slice-links/t', (l) => ({ links: [{ ...l.links[0], pairs: undefined }] })), 'etherip pair 198.18.0.1 198.18.0.2: held but no link carries it (leak)'],
    ['pairs without a guard key', (s) => edit(s, 'ipam/pair-sets/etherip', 'delete'), 'etherip has pairs but no guard key'],
    ['a record that is not JSON', (s) => s.commit({ compares: [], ops: [{ type: 'put', key: 'ipam/blocks/pub-v4/x', value: '{', expect: 0 }] }).then(() => undefined), 'not JSON'],
  ])('finds %s', async (_what, damage, problem) => {
    const store = await healthy();
    await damage(store);
    const found = await checkInvariants(store);
    expect(found.map((v) => `${v.key}: ${v.problem}`)).toEqual(expect.arrayContaining([expect.stringContaining(problem)]));
  });
});
