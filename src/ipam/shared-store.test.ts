// Several IPAM instances (as several controllers or processes would) on one
// store: their in-memory indices must notice each other's commits, and a
// lost compare-and-swap race must be retried, never committed twice.
import { afterEach, describe, expect, it } from 'vitest';
import { expectError, expectSane, p2p, rig, type Rig } from '../../test/ipam/support.js';
import type { Store, Txn } from '../store/index.js';
import { createIpam } from './ipam.js';

let r: Rig | undefined;
afterEach(async () => {
  if (r) await expectSane(r.store);
  r = undefined;
});

/** A store that runs `interfere` just before each of the first `times` commits. */
function racing(store: Store, times: number, interfere: () => Promise<unknown>): Store & { commits: number } {
  let left = times;
  const s = {
    commits: 0,
    read: store.read.bind(store),
    close: store.close.bind(store),
    async commit(txn: Txn, opts?: { signal?: AbortSignal }) {
      s.commits++;
      if (left-- > 0) await interfere();
      return store.commit(txn, opts);
    },
  };
  return s;
}

describe('several IPAM instances on one store', () => {
  it('interleaved allocations never overlap', async () => {
    r = await rig();
    const { store, clock } = r;
    const a = createIpam({ store, clock });
    const b = createIpam({ store, clock });
    const got: string[] = [];
    for (let i = 0; i < 8; i++) {
      const who = i % 2 === 0 ? a : b;
      const x = await who.allocate({ slice: `s${i}`, links: [p2p('l', { ipv4: { class: 'public' }, identifier: 'greKey' })] });
      got.push(x.blocks[0]!.prefix);
      if (i === 3) await b.release('s0');
    }
    expect(new Set(got).size).toBe(8);
  });

  it('a lost race is retried with a fresh view and takes other space', async () => {
    r = await rig();
    const { store, clock } = r;
    const rival = createIpam({ store, clock });
    const proxy = racing(store, 1, () => rival.allocate({ slice: 'rival', links: [p2p('l', { ipv4: { class: 'public' }, identifier: 'vni' })] }));
    const me = createIpam({ store: proxy, clock });
    const mine = await me.allocate({ slice: 'me', links: [p2p('l', { ipv4: { class: 'public' }, identifier: 'vni' })] });
    const theirs = (await rival.get('rival'))!;
    expect(proxy.commits).toBe(2);
    expect(theirs.blocks[0]!.prefix).toBe('198.51.100.0/28');
    expect(mine.blocks[0]!.prefix).toBe('198.51.100.16/28');
    expect([theirs.links[0]!.vni, mine.links[0]!.vni]).toEqual([1, 2]);
    expect([theirs.groupId, mine.groupId]).toEqual([4096, 4097]);
  });

  it('a race on the slice itself ends in ALREADY_EXISTS, not a second allocation', async () => {
    r = await rig();
    const { store, clock } = r;
    const rival = createIpam({ store, clock });
    const me = createIpam({ store: racing(store, 1, () => rival.allocate({ slice: 'same', links: [] })), clock });
    await expectError(me.allocate({ slice: 'same', links: [] }), 'VISP_ALREADY_EXISTS', 'slice "same": already has an allocation');
  });

  it('gives up with UNAVAILABLE when it keeps losing', async () => {
    r = await rig();
    const { store, clock } = r;
    const rival = createIpam({ store, clock });
    let n = 0;
    const me = createIpam({ store: racing(store, 100, () => rival.allocate({ slice: `r${n++}`, links: [], blocks: [{ class: 'local', family: 'ipv6' }] })), clock, maxAttempts: 3 });
    await expectError(me.allocate({ slice: 'me', links: [], blocks: [{ class: 'local', family: 'ipv6' }] }), 'VISP_UNAVAILABLE', 'allocate slice "me": still conflicting after 3 attempts');
    expect(await me.get('me')).toBeUndefined();
  });

  it('with no other writer, an allocation reads the store twice: its slice\'s keys, then every guard it rests on', async () => {
    r = await rig();
    const { store, clock } = r;
    let reads = 0;
    const counting: Store = { read: (q, o) => (reads++, store.read(q, o)), commit: store.commit.bind(store), close: store.close.bind(store) };
    const me = createIpam({ store: counting, clock });
    const links = [p2p('l', { ipv4: { class: 'public' }, ipv6: { class: 'local' }, identifier: 'vni' })];
    await me.allocate({ slice: 'first', links }); // builds the indices
    reads = 0;
    const second = await me.allocate({ slice: 'second', links });
    expect(second.groupId).toBeDefined();
    expect(reads).toBe(2);
  });

  it('a release racing an allocation in the same pool keeps both consistent', async () => {
    r = await rig();
    const { store, clock } = r;
    const rival = createIpam({ store, clock });
    await rival.allocate({ slice: 'old', links: [p2p('l', { ipv4: { class: 'public' } })] });
    const me = createIpam({ store: racing(store, 1, () => rival.allocate({ slice: 'new', links: [p2p('l', { ipv4: { class: 'public' } })] })), clock });
    expect(await me.release('old')).toMatchObject({ released: true });
    expect((await me.usage()).find((u) => u.pool === 'pub-v4')).toMatchObject({ liveBlocks: 1, coolingBlocks: 1 });
  });
});
