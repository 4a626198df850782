import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../errors.js';
import { createMemoryStore } from './memory-store.js';
import { transact } from './transact.js';
import type { Store } from './types.js';

async function counterValue(store: Store): Promise<{ n: number; rev: number }> {
  const e = (await store.read([{ key: 'n' }])).results[0]![0];
  return { n: e ? Number(e.value) : 0, rev: e?.modRevision ?? 0 };
}

describe('transact', () => {
  it('retries a lost race until it wins, calling onConflict each time', async () => {
    const store = createMemoryStore();
    const conflicts: string[][] = [];
    let interfere = 2;
    const result = await transact(
      store,
      async () => {
        const { n, rev } = await counterValue(store);
        if (interfere-- > 0) {
          // Another writer bumps the counter between our read and our commit.
          await store.commit({ compares: [], ops: [{ type: 'put', key: 'n', value: String(n + 100), expect: rev }] });
        }
        return { txn: { compares: [], ops: [{ type: 'put', key: 'n', value: String(n + 1), expect: rev }] }, result: (r) => ({ n: n + 1, r }) };
      },
      { onConflict: (c) => conflicts.push([...c]) },
    );
    expect(conflicts).toEqual([['n'], ['n']]);
    expect(result).toEqual({ n: 201, r: 3 });
  });

  it('returns without committing when the attempt is already done', async () => {
    const store = createMemoryStore();
    expect(await transact(store, async () => ({ done: 'nothing to do' }))).toBe('nothing to do');
    expect((await store.read([])).revision).toBe(0);
  });

  it('gives up with UNAVAILABLE naming the keys after maxAttempts', async () => {
    const store = createMemoryStore();
    const err = await transact(store, async () => ({ txn: { compares: [{ key: 'never', modRevision: 1 }], ops: [] }, result: () => 0 }), {
      maxAttempts: 3,
      what: 'test txn',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe('test txn: still conflicting after 3 attempts (keys never); retry later');
  });

  it('stops when aborted between attempts', async () => {
    const store = createMemoryStore();
    const ac = new AbortController();
    const p = transact(store, async (n) => {
      if (n === 2) ac.abort();
      return { txn: { compares: [{ key: 'never', modRevision: 1 }], ops: [] }, result: () => 0 };
    }, { signal: ac.signal });
    await expect(p).rejects.toThrow(/abort/i);
  });
});
