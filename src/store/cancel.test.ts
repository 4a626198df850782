// The store's side of a caller going away: an aborted signal is checked
// before a read and before a commit starts (CancelledError, nothing
// written), in both implementations; transact checks it again between its
// decision and its commit, and never abandons a commit it sent.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CancelledError, UnavailableError } from '../errors.js';
import { createMemoryStore } from './memory-store.js';
import { openSqliteStore } from './sqlite-store.js';
import { transact } from './transact.js';
import type { Store } from './types.js';

const dir = mkdtempSync(join(tmpdir(), 'visp-cancel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const put = (key: string, value: string, expect = 0) => ({ compares: [], ops: [{ type: 'put' as const, key, value, expect }] });

describe.each<[string, () => Promise<Store>]>([
  ['memory', async () => createMemoryStore()],
  ['sqlite', () => openSqliteStore(join(dir, `s${Math.random().toString(36).slice(2)}.db`))],
])('%s store', (_name, open) => {
  it('an aborted signal: read and commit throw CancelledError (keeping the abort reason), nothing is written', async () => {
    const s = await open();
    await s.commit(put('a', '1'));
    const signal = AbortSignal.abort();
    await expect(s.read([{ key: 'a' }], { signal })).rejects.toBeInstanceOf(CancelledError);
    const err = await s.commit(put('b', '1'), { signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect((err as Error).cause).toBe(signal.reason);
    const snap = await s.read([{ prefix: '' }]);
    expect(snap.revision).toBe(1);
    expect(snap.results[0]!.map((e) => e.key)).toEqual(['a']);
    await s.close();
  });
});

describe('transact', () => {
  it('a caller gone while the attempt decided: no commit', async () => {
    const s = createMemoryStore();
    const ac = new AbortController();
    await expect(transact(s, async () => {
      ac.abort();
      return { txn: put('k', 'v'), result: () => 'done' };
    }, { signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);
    expect((await s.read([])).revision).toBe(0);
  });

  it('a caller gone during the backoff after a lost race: CancelledError, not the timer\'s AbortError', async () => {
    const s = createMemoryStore();
    await s.commit(put('k', 'theirs'));
    const ac = new AbortController();
    const p = transact(s, async () => ({ txn: put('k', 'mine', 0), result: () => 'done' }), {
      signal: ac.signal, maxAttempts: 1000, onConflict: () => { setImmediate(() => ac.abort()); },
    });
    await expect(p).rejects.toBeInstanceOf(CancelledError);
  });

  it('an abort reason that is a VispError is thrown as it is', async () => {
    const s = createMemoryStore();
    const why = new UnavailableError('controller shutting down');
    await expect(transact(s, async () => ({ done: 1 }), { signal: AbortSignal.abort(why) })).rejects.toBe(why);
  });
});
