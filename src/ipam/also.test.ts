// A caller's own records written in an IPAM operation's transaction (`also`):
// both are in the store at one revision, or neither is; a lost race on the
// IPAM's keys plans again with the caller's records rebuilt, one on the
// caller's keys is refused at once; the sweeper leaves kept slices alone.
import { afterEach, describe, expect, it } from 'vitest';
import { expectError, expectSane, MINUTE, p2p, POOLS, rig, type Rig } from '../../test/ipam/support.js';
import { createMemoryStore, type Op, type Store } from '../store/index.js';
import { createIpam } from './ipam.js';
import type { Also } from './op-context.js';
import type { SliceAllocation, SliceSpec } from './types.js';

let r: Rig | undefined;
afterEach(async () => {
  if (r) await expectSane(r.store);
  r = undefined;
});
const setup = async (...args: Parameters<typeof rig>): Promise<Rig> => (r = await rig(...args));

const spec = (slice: string): SliceSpec => ({ slice, links: [p2p('l', { ipv4: { class: 'private' } })] });
const put = (key: string, value: unknown, expect = 0): Op => ({ type: 'put', key, value: JSON.stringify(value), expect });

async function entry(store: Store, key: string): Promise<{ value: unknown; modRevision: number } | undefined> {
  const e = (await store.read([{ key }])).results[0]![0];
  return e ? { value: JSON.parse(e.value), modRevision: e.modRevision } : undefined;
}

/** An Also that records what it was asked and when it was told. */
function recorder<R>(ops: (result: R) => readonly Op[]): Also<R> & { seen: R[]; revisions: number[] } {
  const seen: R[] = [];
  const revisions: number[] = [];
  return {
    seen,
    revisions,
    ops: (result) => {
      seen.push(result);
      return ops(result);
    },
    committed: (revision) => void revisions.push(revision),
  };
}

describe('allocate with also', () => {
  it("commits the caller's record with the allocation, at one revision, built from the allocation", async () => {
    const { ipam, store } = await setup();
    const also = recorder((a: SliceAllocation) => [put('ctl/slices/s', { blocks: a.blocks.map((b) => b.prefix) })]);
    const a = await ipam.allocate(spec('s'), { also });
    const mine = await entry(store, 'ctl/slices/s');
    const header = await entry(store, 'ipam/slices/s');
    expect(mine?.value).toEqual({ blocks: a.blocks.map((b) => b.prefix) });
    expect(mine?.modRevision).toBe(header?.modRevision);
    expect(also.revisions).toEqual([mine!.modRevision]);
    expect(also.seen).toEqual([a]);
  });

  it("writes nothing when the caller's ops throw, and the space it planned stays free", async () => {
    const { ipam, store } = await setup();
    const refusal = new Error('over the limit');
    const also: Also<SliceAllocation> = { ops: () => { throw refusal; } };
    await expect(ipam.allocate(spec('s'), { also })).rejects.toBe(refusal);
    expect(await ipam.get('s')).toBeUndefined();
    expect(await entry(store, 'ipam/slices/s')).toBeUndefined();
    // The in-memory plan was forgotten: the next allocation gets the same first block.
    const first = await ipam.allocate(spec('t'));
    const fresh = await rig();
    expect(first.blocks).toEqual((await fresh.ipam.allocate(spec('t'))).blocks);
  });

  it("is refused at once, writing nothing, when the caller's key is not at the revision it expects", async () => {
    const { ipam, store } = await setup();
    await store.commit({ compares: [], ops: [put('ctl/slices/s', 'someone else')] });
    const also = recorder(() => [put('ctl/slices/s', 'mine', 0)]);
    await expectError(ipam.allocate(spec('s'), { also }), 'VISP_UNAVAILABLE', 'ctl/slices/s was changed by another writer');
    expect(also.seen).toHaveLength(1); // not retried: only the caller can decide again
    expect(also.revisions).toEqual([]);
    expect(await ipam.get('s')).toBeUndefined();
    expect((await entry(store, 'ctl/slices/s'))?.value).toBe('someone else');
    // And the IPAM's indices still match the store.
    await ipam.allocate(spec('s'));
  });

  it('refuses a caller write under ipam/', async () => {
    const { ipam } = await setup();
    await expect(ipam.allocate(spec('s'), { also: { ops: () => [put('ipam/slices/x', {})] } })).rejects.toThrow(/keys under ipam\/ are the IPAM's own/);
    expect(await ipam.list()).toEqual([]);
  });

  it("plans again after losing a race on the IPAM's keys, and commits the caller's record for the allocation that won", async () => {
    const inner = createMemoryStore();
    const other = createIpam({ store: inner });
    await other.configure({ pools: POOLS });
    let raced = false;
    // The first commit of `ipam` finds another process's allocation just committed on the same pool.
    const store: Store = {
      read: (q, o) => inner.read(q, o),
      commit: async (txn, o) => {
        if (!raced && txn.ops.some((op) => op.key === 'ctl/slices/s')) {
          raced = true;
          await other.allocate(spec('rival'));
        }
        return inner.commit(txn, o);
      },
      close: () => inner.close(),
    };
    const ipam = createIpam({ store });
    const also = recorder((a: SliceAllocation) => [put('ctl/slices/s', a.blocks[0]!.prefix)]);
    const a = await ipam.allocate(spec('s'), { also });
    expect(also.seen).toHaveLength(2);
    expect(also.seen[0]!.blocks[0]!.prefix).not.toBe(a.blocks[0]!.prefix); // the rival got the first plan's block
    expect((await entry(inner, 'ctl/slices/s'))?.value).toBe(a.blocks[0]!.prefix);
    expect(also.revisions).toEqual([(await entry(inner, 'ctl/slices/s'))!.modRevision]);
    await expectSane(inner);
  });
});

describe('markProvisioned with also', () => {
  it("commits the caller's record with the mark, and again (guarded) when already provisioned", async () => {
    const { ipam, store } = await setup();
    await ipam.allocate(spec('s'));
    const first = recorder((a: SliceAllocation) => [put('ctl/slices/s', a.state)]);
    await ipam.markProvisioned('s', { also: first });
    const e1 = await entry(store, 'ctl/slices/s');
    expect(e1).toEqual({ value: 'provisioned', modRevision: (await entry(store, 'ipam/slices/s'))!.modRevision });
    const again = recorder((a: SliceAllocation) => [put('ctl/slices/s', `${a.state} again`, e1!.modRevision)]);
    await ipam.markProvisioned('s', { also: again });
    const e2 = await entry(store, 'ctl/slices/s');
    expect(e2?.value).toBe('provisioned again');
    expect(again.revisions).toEqual([e2!.modRevision]);
  });

  it('writes nothing for an expired or unknown allocation', async () => {
    const { ipam, store, clock } = await setup({ allocationTtlMs: MINUTE });
    await ipam.allocate(spec('s'));
    clock.advance(MINUTE);
    const also = { ops: () => [put('ctl/x', 1)] };
    await expectError(ipam.markProvisioned('s', { also }), 'VISP_INCOMPATIBLE_STATE', 'expired');
    await expectError(ipam.markProvisioned('nope', { also }), 'VISP_NOT_FOUND', 'no allocation');
    expect(await entry(store, 'ctl/x')).toBeUndefined();
  });
});

describe('release with also', () => {
  it("commits the caller's records with the release", async () => {
    const { ipam, store } = await setup();
    await ipam.allocate(spec('s'), { also: { ops: () => [put('ctl/slices/s', 'allocated')] } });
    const rev = (await entry(store, 'ctl/slices/s'))!.modRevision;
    const also = recorder(() => [{ type: 'delete', key: 'ctl/slices/s', expect: rev } as const, put('ctl/teardowns/n1/s', { slice: 's' })]);
    const res = await ipam.release('s', { also });
    expect(res.released).toBe(true);
    expect(await entry(store, 'ctl/slices/s')).toBeUndefined();
    expect((await entry(store, 'ctl/teardowns/n1/s'))?.modRevision).toBe(also.revisions[0]);
    const block = (await store.read([{ prefix: 'ipam/blocks/' }])).results[0]!;
    expect(block.map((e) => [JSON.parse(e.value).state, e.modRevision])).toEqual([['cooldown', also.revisions[0]]]);
  });

  it("commits the caller's records when there is nothing to release", async () => {
    const { ipam, store } = await setup();
    const also = recorder(() => [put('ctl/teardowns/n1/s', { slice: 's' })]);
    expect(await ipam.release('s', { also })).toEqual({ slice: 's', released: false });
    expect((await entry(store, 'ctl/teardowns/n1/s'))?.modRevision).toBe(also.revisions[0]);
  });
});

describe('sweep with keep', () => {
  it('leaves an expired allocation that is kept for its owner, and releases one that is not', async () => {
    const { ipam, clock } = await setup({ allocationTtlMs: MINUTE });
    await ipam.allocate(spec('kept'));
    await ipam.allocate(spec('orphan'));
    clock.advance(MINUTE);
    expect((await ipam.sweep({ keep: (s) => s === 'kept' })).expired).toEqual(['orphan']);
    expect((await ipam.list()).map((s) => s.slice)).toEqual(['kept']);
    // Its owner releases it when it gets to it.
    expect((await ipam.release('kept')).released).toBe(true);
  });
});
