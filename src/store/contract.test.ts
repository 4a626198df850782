// The store contract, run against every implementation: memory, SQLite (on
// the caller's thread and on its own), and etcd (a real three-member cluster
// with mutual TLS, test/helpers/etcd-cluster.ts; each test gets a store under
// a fresh prefix of it). Needs root for the cluster's namespaces.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdCluster } from '../../test/helpers/etcd-cluster.js';
import { isRoot } from '../../test/helpers/netns.js';
import { openEtcdStore } from './etcd-store.js';
import { createMemoryStore } from './memory-store.js';
import { openSqliteStore } from './sqlite-store.js';
import { openSqliteStoreThreaded } from './sqlite-thread.js';
import type { Store } from './types.js';

const impls: [string, (dir: string) => Promise<Store>][] = [
  ['memory', async () => createMemoryStore()],
  ['sqlite', (dir) => openSqliteStore(join(dir, 'store.db'))],
  ['sqlite on its own thread', (dir) => openSqliteStoreThreaded(join(dir, 'store.db'))],
];

let etcd: EtcdCluster | undefined;
let prefixes = 0;
if (isRoot) {
  beforeAll(async () => { etcd = await startEtcdCluster(mkdtempSync(join(tmpdir(), 'visp-etcd-')), { tag: 'ct' }); }, 60_000);
  afterAll(async () => { await etcd?.stop(); });
  impls.push(['etcd (three members, TLS)', async () => openEtcdStore(etcd!.url(`contract${prefixes++}`), { tls: etcd!.clientTls })]);
}

describe.each(impls)('store contract: %s', (_name, open) => {
  let dir: string;
  let store: Store;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-store-'));
    store = await open(dir);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (key: string) => (await store.read([{ key }])).results[0]![0];

  it('starts empty at revision 0', async () => {
    const snap = await store.read([{ key: 'a' }, { prefix: '' }]);
    expect(snap.revision).toBe(0);
    expect(snap.results).toEqual([[], []]);
  });

  it('creates with expect 0 and stamps revisions', async () => {
    const r = await store.commit({ compares: [], ops: [{ type: 'put', key: 'a', value: '1', expect: 0 }] });
    expect(r).toEqual({ ok: true, revision: 1 });
    expect(await get('a')).toEqual({ key: 'a', value: '1', createRevision: 1, modRevision: 1, version: 1 });
  });

  it('updates only at the expected modRevision', async () => {
    await store.commit({ compares: [], ops: [{ type: 'put', key: 'a', value: '1', expect: 0 }] });
    expect(await store.commit({ compares: [], ops: [{ type: 'put', key: 'a', value: '2', expect: 0 }] })).toEqual({
      ok: false,
      conflicts: ['a'],
    });
    const r = await store.commit({ compares: [], ops: [{ type: 'put', key: 'a', value: '2', expect: 1 }] });
    expect(r).toEqual({ ok: true, revision: 2 });
    expect(await get('a')).toEqual({ key: 'a', value: '2', createRevision: 1, modRevision: 2, version: 2 });
  });

  it('is all or nothing: one stale op fails the whole txn', async () => {
    await store.commit({ compares: [], ops: [{ type: 'put', key: 'a', value: '1', expect: 0 }] });
    const r = await store.commit({
      compares: [],
      ops: [
        { type: 'put', key: 'b', value: 'x', expect: 0 },
        { type: 'put', key: 'a', value: 'y', expect: 7 },
      ],
    });
    expect(r).toEqual({ ok: false, conflicts: ['a'] });
    expect(await get('b')).toBeUndefined();
    expect((await store.read([])).revision).toBe(1);
  });

  it('checks read-only compares, including absence', async () => {
    await store.commit({ compares: [], ops: [{ type: 'put', key: 'g', value: '1', expect: 0 }] });
    const put = { type: 'put' as const, key: 'x', value: '1', expect: 0 };
    expect(await store.commit({ compares: [{ key: 'g', modRevision: 0 }], ops: [put] })).toEqual({ ok: false, conflicts: ['g'] });
    expect(await store.commit({ compares: [{ key: 'nope', modRevision: 3 }], ops: [put] })).toEqual({ ok: false, conflicts: ['nope'] });
    expect(await store.commit({ compares: [{ key: 'g', modRevision: 1 }, { key: 'nope', modRevision: 0 }], ops: [put] })).toMatchObject({ ok: true });
  });

  it('deletes by CAS, and a re-created key never matches the old revision', async () => {
    await store.commit({ compares: [], ops: [{ type: 'put', key: 'a', value: '1', expect: 0 }] });
    expect(await store.commit({ compares: [], ops: [{ type: 'delete', key: 'a', expect: 5 }] })).toMatchObject({ ok: false });
    expect(await store.commit({ compares: [], ops: [{ type: 'delete', key: 'a', expect: 1 }] })).toEqual({ ok: true, revision: 2 });
    await store.commit({ compares: [], ops: [{ type: 'put', key: 'a', value: 'new', expect: 0 }] });
    // A writer that read the first incarnation (modRevision 1) must lose.
    expect(await store.commit({ compares: [], ops: [{ type: 'put', key: 'a', value: 'stale', expect: 1 }] })).toMatchObject({ ok: false });
    expect(await get('a')).toMatchObject({ value: 'new', createRevision: 3, modRevision: 3, version: 1 });
  });

  it('reads prefixes in key order, bounded exactly by the prefix', async () => {
    const keys = ['p/b', 'p/a', 'p', 'p0', 'p/a/x', 'q', 'o~'];
    await store.commit({ compares: [], ops: keys.map((key) => ({ type: 'put' as const, key, value: key, expect: 0 })) });
    const snap = await store.read([{ prefix: 'p/' }, { prefix: 'p' }, { key: 'p/a' }, { prefix: '~' }]);
    expect(snap.results[0]!.map((e) => e.key)).toEqual(['p/a', 'p/a/x', 'p/b']);
    expect(snap.results[1]!.map((e) => e.key)).toEqual(['p', 'p/a', 'p/a/x', 'p/b', 'p0']);
    expect(snap.results[2]!.map((e) => e.key)).toEqual(['p/a']);
    expect(snap.results[3]).toEqual([]);
  });

  it('an empty txn whose compares hold changes nothing', async () => {
    const r = await store.commit({ compares: [{ key: 'a', modRevision: 0 }], ops: [] });
    expect(r).toEqual({ ok: true, revision: 0 });
  });

  it.each([
    ['empty key', { compares: [], ops: [{ type: 'put', key: '', value: '', expect: 0 }] }],
    ['space in key', { compares: [], ops: [{ type: 'put', key: 'a b', value: '', expect: 0 }] }],
    ['non-ASCII key', { compares: [], ops: [{ type: 'put', key: 'é', value: '', expect: 0 }] }],
    ['negative expect', { compares: [], ops: [{ type: 'delete', key: 'a', expect: -1 }] }],
    ['duplicate key', { compares: [], ops: [{ type: 'delete', key: 'a', expect: 1 }, { type: 'put', key: 'a', value: '', expect: 1 }] }],
  ] as const)('rejects a malformed txn: %s', async (_what, txn) => {
    await expect(store.commit(txn)).rejects.toThrow(TypeError);
  });

  it('honours an aborted signal', async () => {
    const signal = AbortSignal.abort();
    await expect(store.read([{ key: 'a' }], { signal })).rejects.toThrow(/abort/i);
    await expect(store.commit({ compares: [], ops: [] }, { signal })).rejects.toThrow(/abort/i);
  });
});
