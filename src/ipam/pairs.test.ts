// Underlay address pairs (an encapsulation with no identifier of its own,
// EtherIP: the pair of underlay addresses is the identity): one pair carries
// one link of a space, across all slices; choices fall back to the next way
// of carrying a link; pairs cool down like identifiers. And identifier
// uniqueness per kind, for every kind: a duplicate is impossible.
import { afterEach, describe, expect, it } from 'vitest';
import { expectError, expectInvalidSpec, expectSane, MINUTE, p2p, rig, type Rig } from '../../test/ipam/support.js';
import type { Store, Txn } from '../store/index.js';
import { createIpam } from './ipam.js';
import { parseSliceSpec } from './request.js';
import type { LinkChoice, LinkSpec, SliceAllocation, UnderlayPairsSpec } from './types.js';

let r: Rig | undefined;
afterEach(async () => {
  if (r) await expectSane(r.store);
  r = undefined;
});
const setup = async (...args: Parameters<typeof rig>): Promise<Rig> => (r = await rig(...args));

const V4 = ['198.18.0.1', '198.18.0.2'] as const;
const V6 = ['2001:db8:ff00::1', '2001:db8:ff00::2'] as const;
const eip = (...pairs: Array<readonly [string, string]>): UnderlayPairsSpec => ({ space: 'etherip', pairs });
const link = (name: string, pairs: UnderlayPairsSpec, extra: Partial<LinkSpec> = {}): LinkSpec => p2p(name, { pairs, ...extra });
const chooser = (name: string, choices: LinkChoice[]): LinkSpec => p2p(name, { choices });

describe('parsing', () => {
  const spec = (l: Partial<LinkSpec>) => ({ slice: 's', links: [{ ...p2p('a'), ...l }] });
  it.each<[string, Partial<LinkSpec>, string, string]>([
    ['a space that is not a name', { pairs: { space: 'EtherIP', pairs: [V4] } }, 'is not a space name', 'links[0].pairs.space'],
    ['no pairs', { pairs: eip() }, 'expected a list of 1..250000 address pairs', 'links[0].pairs.pairs'],
    ['a pair of three', { pairs: eip(['198.18.0.1', '198.18.0.2', '198.18.0.3'] as never) }, 'expected two addresses', 'links[0].pairs.pairs[0]'],
    ['an address that is not one', { pairs: eip(['198.18.0.1', '198.18.0.256']) }, 'is not an IP address', 'links[0].pairs.pairs[0][1]'],
    ['an address with a prefix length', { pairs: eip(['198.18.0.1/24', '198.18.0.2']) }, 'without a prefix length', 'links[0].pairs.pairs[0][0]'],
    ['two families', { pairs: eip(['198.18.0.1', '2001:db8::1']) }, 'are of different families', 'links[0].pairs.pairs[0]'],
    ['one address twice', { pairs: eip(['2001:db8::1', '2001:DB8:0::1']) }, 'both ends are 2001:db8::1', 'links[0].pairs.pairs[0]'],
    ['a pair twice in one link, either way round', { pairs: eip(V4, [V4[1], V4[0]]) }, '198.18.0.1 and 198.18.0.2 are already links[0].pairs.pairs[0]', 'links[0].pairs.pairs[1]'],
    ['choices and a pair', { pairs: eip(V4), choices: [{ identifier: 'vni' }] }, 'give either choices or identifier and pairs', 'links[0].choices'],
    ['no choices', { choices: [] }, 'expected a list of 1..16 choices', 'links[0].choices'],
    ['a choice that is not an object', { choices: ['vni' as never] }, 'expected an object', 'links[0].choices[0]'],
    ['a bad identifier in a choice', { choices: [{ pairs: eip(V4) }, { identifier: 'vlan' as never }] }, '"vlan" is not greKey or vni', 'links[0].choices[1].identifier'],
  ])('refuses %s', (_what, l, message, field) => expectInvalidSpec(() => parseSliceSpec(spec(l)), message, field));

  it('keeps each pair canonical and in ascending order', () => {
    const req = parseSliceSpec(spec({ pairs: eip(['2001:DB8:FF00:0::2', '2001:db8:ff00::1'], ['198.18.0.10', '198.18.0.9']) }));
    expect(req.links[0]!.choices).toEqual([{ pairs: { space: 'etherip', pairs: [{ a: '2001:db8:ff00::1', b: '2001:db8:ff00::2' }, { a: '198.18.0.9', b: '198.18.0.10' }] } }]);
  });
});

describe('one pair, one link', () => {
  it('a link holds its pair; the allocation shows it canonical', async () => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 'a', links: [link('x', eip(['2001:DB8:FF00::2', '2001:db8:ff00:0::1']))] });
    expect(a.links[0]!.pairs).toEqual(eip(V6));
    expect(a.links[0]!.choice).toBeUndefined();
  });

  it.each<[string, readonly [string, string]]>([
    ['the same way round', V4],
    ['the other way round', [V4[1], V4[0]]],
  ])('another slice asking for a held pair (%s) is FAILED_PRECONDITION, the holder not named', async (_what, pair) => {
    const { ipam, store } = await setup();
    await ipam.allocate({ slice: 'holder', links: [link('x', eip(V4))] });
    const before = (await store.read([])).revision;
    const err = await expectError(ipam.allocate({ slice: 's', links: [p2p('y'), link('z', eip(pair))] }), 'VISP_INCOMPATIBLE_STATE',
      'links[1].pairs: etherip between 198.18.0.1 and 198.18.0.2 is taken by another slice');
    expect(err.field).toBe('links[1].pairs');
    expect(err.message).not.toContain('holder');
    expect(err.freesAt).toBeUndefined();
    expect((await store.read([])).revision).toBe(before);
  });

  it('two links of one slice on one pair: INVALID_ARGUMENT naming the first link', async () => {
    const { ipam } = await setup();
    await expectError(ipam.allocate({ slice: 's', links: [link('x', eip(V4)), p2p('m'), link('y', eip([V4[1], V4[0]]))] }), 'VISP_INVALID_SPEC',
      'links[2].pairs: etherip between 198.18.0.1 and 198.18.0.2 is already used by link "x" of this slice');
  });

  it('pairs of different spaces, or of different addresses, do not conflict', async () => {
    const { ipam } = await setup();
    await ipam.allocate({ slice: 'a', links: [link('x', eip(V4))] });
    await ipam.allocate({ slice: 'b', links: [link('x', { space: 'other', pairs: [V4] })] });
    await ipam.allocate({ slice: 'c', links: [link('x', eip(['198.18.0.1', '198.18.0.3']))] });
    await ipam.allocate({ slice: 'd', links: [link('x', eip(V6))] });
  });

  it('a LAN holds a pair per pair of members; one held pair refuses it, listing only the held ones', async () => {
    const { ipam } = await setup();
    const lan = (name: string, p: UnderlayPairsSpec): LinkSpec => ({ name, interfaces: [{ name: 'a' }, { name: 'b' }, { name: 'c' }], pairs: p });
    const three = eip(['198.18.0.1', '198.18.0.2'], ['198.18.0.1', '198.18.0.3'], ['198.18.0.2', '198.18.0.3']);
    const a = await ipam.allocate({ slice: 'a', links: [lan('l', three)] });
    expect(a.links[0]!.pairs!.pairs).toHaveLength(3);
    const err = await expectError(ipam.allocate({ slice: 'b', links: [lan('l', eip(['198.18.0.3', '198.18.0.4'], ['198.18.0.2', '198.18.0.3'], ['198.18.0.2', '198.18.0.4']))] }),
      'VISP_INCOMPATIBLE_STATE', 'links[0].pairs: etherip between 198.18.0.2 and 198.18.0.3 is taken by another slice');
    expect(err.message).not.toContain('198.18.0.4');
  });

  it('a refused allocation takes nothing: not its pairs, not the pairs of the links before it', async () => {
    const { ipam } = await setup({ identifiers: { vni: [{ first: 1, last: 1 }] } });
    await expectError(ipam.allocate({ slice: 's', links: [link('x', eip(V4)), p2p('v', { identifier: 'vni' }), p2p('w', { identifier: 'vni' })] }), 'VISP_POOL_EXHAUSTED', 'asked for 2 VNIs, 1 free');
    await ipam.allocate({ slice: 't', links: [link('x', eip(V4))] });
  });
});

describe('choices', () => {
  const both = (name: string): LinkSpec => chooser(name, [{ pairs: eip(V4) }, { pairs: eip(V6) }, { identifier: 'vni' }]);

  it('each link takes its first free choice, in link order, also within the slice', async () => {
    const { ipam } = await setup();
    const a = await ipam.allocate({ slice: 'a', links: [both('x'), both('y'), both('z')] });
    expect(a.links.map((l) => [l.choice, l.pairs?.pairs, l.vni])).toEqual([[0, [V4], undefined], [1, [V6], undefined], [2, undefined, 1]]);
    const b = await ipam.allocate({ slice: 'b', links: [both('x')] });
    expect([b.links[0]!.choice, b.links[0]!.vni]).toEqual([2, 2]);
  });

  it('when no choice is free: every reason; INVALID_ARGUMENT only if this slice alone blocks it', async () => {
    const { ipam } = await setup();
    await ipam.allocate({ slice: 'a', links: [link('x', eip(V4))] });
    const two = chooser('y', [{ pairs: eip(V4) }, { pairs: eip(V6) }]);
    await expectError(ipam.allocate({ slice: 'b', links: [link('w', eip(V6)), two] }), 'VISP_INCOMPATIBLE_STATE',
      'links[1].choices: etherip between 198.18.0.1 and 198.18.0.2 is taken by another slice; etherip between 2001:db8:ff00::1 and 2001:db8:ff00::2 is already used by link "w" of this slice');
    await expectError(ipam.allocate({ slice: 'c', links: [link('w', eip(V6)), chooser('y', [{ pairs: eip(V6) }])] }), 'VISP_INVALID_SPEC',
      'links[1].choices: etherip between 2001:db8:ff00::1 and 2001:db8:ff00::2 is already used by link "w" of this slice');
  });
});

describe('cooldown', () => {
  it('a released pair cools down: refused with when it frees (FAILED_PRECONDITION), a choice skips it, then it is free', async () => {
    const { ipam, clock } = await setup();
    await ipam.allocate({ slice: 'a', links: [link('x', eip(V4))] });
    await ipam.release('a');
    clock.advance(4 * MINUTE);
    const err = await expectError(ipam.allocate({ slice: 'b', links: [link('x', eip(V4))] }), 'VISP_INCOMPATIBLE_STATE',
      'links[0].pairs: etherip between 198.18.0.1 and 198.18.0.2 is cooling down until 2030-01-01T00:10:00.000Z (frees in 6 min) after a slice released it');
    expect(err).toMatchObject({ freesAt: Date.parse('2030-01-01T00:10:00.000Z'), retryAfterMs: 6 * MINUTE });
    const c = await ipam.allocate({ slice: 'c', links: [chooser('x', [{ pairs: eip(V4) }, { identifier: 'greKey' }])] });
    expect(c.links[0]!.choice).toBe(1);
    // Two choices both cooling: the one that frees first decides.
    await ipam.allocate({ slice: 'd', links: [link('x', eip(V6))] });
    clock.advance(MINUTE);
    await ipam.release('d');
    const e = await expectError(ipam.allocate({ slice: 'e', links: [chooser('x', [{ pairs: eip(V6) }, { pairs: eip(V4) }])] }), 'VISP_INCOMPATIBLE_STATE', 'links[0].choices:');
    expect(e.freesAt).toBe(Date.parse('2030-01-01T00:10:00.000Z'));
    clock.advance(5 * MINUTE - 1);
    await expectError(ipam.allocate({ slice: 'b', links: [link('x', eip(V4))] }), 'VISP_INCOMPATIBLE_STATE', '(frees in 1 s)');
    clock.advance(1);
    expect((await ipam.allocate({ slice: 'b', links: [link('x', eip(V4))] })).links[0]!.pairs).toEqual(eip(V4));
  });

  it('with a cooldown of 0 a released pair is free at once; the sweeper deletes cooled pair records', async () => {
    const { ipam } = await setup({ cooldownMs: 0 });
    await ipam.allocate({ slice: 'a', links: [link('x', eip(V4))] });
    await ipam.release('a');
    await ipam.allocate({ slice: 'b', links: [link('x', eip(V4))] });
    await expectSane(r!.store);
    const r2 = await setup();
    await r2.ipam.allocate({ slice: 'a', links: [link('x', eip(V4)), link('y', eip(V6))], groupId: false });
    await r2.ipam.release('a');
    const pairs = async (): Promise<number> => (await r2.store.read([{ prefix: 'ipam/pairs/' }])).results[0]!.length;
    expect(await pairs()).toBe(2);
    r2.clock.advance(10 * MINUTE);
    expect(await r2.ipam.sweep()).toEqual({ expired: [], collected: 2 });
    expect(await pairs()).toBe(0);
  });
});

describe('several IPAM instances on one store', () => {
  it('a second instance with a stale view cannot take a pair the first took', async () => {
    const { store, clock } = await setup();
    const one = createIpam({ store, clock });
    const two = createIpam({ store, clock });
    await two.allocate({ slice: 'warm', links: [link('x', eip(['198.18.0.8', '198.18.0.9']))] }); // two's index of the space is now built
    await one.allocate({ slice: 'a', links: [link('x', eip(V4))] });
    await expectError(two.allocate({ slice: 'b', links: [link('x', eip(V4))] }), 'VISP_INCOMPATIBLE_STATE', 'is taken by another slice');
  });

  it('a lost race for the same pair is retried with a fresh view: one wins, the other falls back to its next choice', async () => {
    const { store, clock } = await setup();
    const rival = createIpam({ store, clock });
    let left = 1;
    const proxy: Store = {
      read: store.read.bind(store),
      close: store.close.bind(store),
      async commit(txn: Txn, opts?: { signal?: AbortSignal }) {
        if (left-- > 0) await rival.allocate({ slice: 'rival', links: [link('x', eip(V4))] });
        return store.commit(txn, opts);
      },
    };
    const me = await createIpam({ store: proxy, clock }).allocate({ slice: 'me', links: [chooser('x', [{ pairs: eip(V4) }, { pairs: eip(V6) }])] });
    expect(me.links[0]).toMatchObject({ choice: 1, pairs: eip(V6) });
    expect((await rival.get('rival'))!.links[0]!.pairs).toEqual(eip(V4));
  });
});

// The class: every identifier a link or slice is told apart by is unique
// per kind, among all live allocations, however they are made.
describe('identifier uniqueness per kind: a duplicate is impossible', () => {
  type Kind = 'greKey' | 'vni' | 'groupId' | 'etherip pair';
  const idOf = (kind: Kind, a: SliceAllocation): string[] =>
    kind === 'groupId' ? [String(a.groupId)] : kind === 'etherip pair' ? a.links.flatMap((l) => l.pairs?.pairs.map((p) => p.join(' ')) ?? []) : a.links.map((l) => String(l[kind]));
  // Small spaces, so that exhaustion and reuse after release happen.
  const spec = (kind: Kind, slice: string, n: number): Parameters<Rig['ipam']['allocate']>[0] => ({
    slice,
    groupId: kind === 'groupId',
    links: Array.from({ length: kind === 'groupId' ? 0 : n }, (_, i) => (kind === 'etherip pair'
      ? chooser(`l${i}`, Array.from({ length: 4 }, (_, k) => ({ pairs: eip([`198.18.0.${k + 1}`, `198.18.1.${(i + slice.length) % 3 + 1}`]) })))
      : p2p(`l${i}`, { identifier: kind }))),
  });
  const config = { identifiers: { greKey: [{ first: 1, last: 12 }], vni: [{ first: 5, last: 16 }], groupId: [{ first: 100, last: 111 }] }, cooldownMs: 0 };

  it.each<Kind>(['greKey', 'vni', 'groupId', 'etherip pair'])('%s: two instances on one store allocating at once, releasing as they go', async (kind) => {
    const { store, clock } = await setup(config);
    let lost = 0;
    const counting: Store = {
      read: store.read.bind(store),
      close: store.close.bind(store),
      commit: async (t, o) => { const res = await store.commit(t, o); if (!res.ok) lost++; return res; },
    };
    const ipams = [createIpam({ store: counting, clock }), createIpam({ store: counting, clock })];
    const held = new Map<string, SliceAllocation>();
    let refused = 0;
    for (let i = 0; i < 40; i++) {
      if (i % 5 === 4) {
        const victim = [...held.keys()][i % held.size];
        if (victim) { await ipams[i % 2]!.release(victim); held.delete(victim); }
      }
      // Two at once on each instance: each instance queues its own, and the two race through the store.
      const got = await Promise.allSettled([0, 1, 2, 3].map((k) => ipams[k % 2]!.allocate(spec(kind, `s${i}-${k}`, 1 + ((i + k) % 3)))));
      for (const g of got) {
        if (g.status === 'fulfilled') held.set(g.value.slice, g.value);
        else { expect(g.reason.code).toMatch(/^VISP_(POOL_EXHAUSTED|INCOMPATIBLE_STATE)$/); refused++; }
      }
      const ids = [...held.values()].flatMap((a) => idOf(kind, a));
      expect(new Set(ids).size, `${kind}: ${ids.join(', ')}`).toBe(ids.length);
    }
    // The spaces ran full (refusals), and the instances really raced (commits lost and retried).
    expect(refused).toBeGreaterThan(0);
    expect(lost).toBeGreaterThan(0);
    for (const a of held.values()) expect(await ipams[0]!.get(a.slice)).toEqual(a);
  });
});
