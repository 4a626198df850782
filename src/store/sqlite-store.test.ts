import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IncompatibleStateError, UnavailableError } from '../errors.js';
import { MIGRATIONS, type Migration } from './sqlite-migrations.js';
import { openSqliteStore } from './sqlite-store.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'visp-sqlite-'));
  file = join(dir, 'store.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const put = (key: string, value: string, expect = 0) => ({ compares: [], ops: [{ type: 'put' as const, key, value, expect }] });
const userVersion = (f: string): number => {
  const db = new Database(f, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
};

describe('sqlite store', () => {
  it('keeps commits across close and reopen, in WAL mode', async () => {
    const a = await openSqliteStore(file);
    await a.commit(put('k', 'v'));
    await a.close();
    const db = new Database(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    const b = await openSqliteStore(file);
    const snap = await b.read([{ key: 'k' }]);
    expect(snap).toEqual({ revision: 1, results: [[{ key: 'k', value: 'v', createRevision: 1, modRevision: 1, version: 1 }]] });
    await b.close();
  });

  it('two connections on one file see each other and race by CAS', async () => {
    const a = await openSqliteStore(file);
    const b = await openSqliteStore(file);
    expect(await a.commit(put('k', 'from-a'))).toEqual({ ok: true, revision: 1 });
    expect(await b.commit(put('k', 'from-b'))).toEqual({ ok: false, conflicts: ['k'] });
    const seen = (await b.read([{ key: 'k' }])).results[0]![0]!;
    expect(seen.value).toBe('from-a');
    expect(await b.commit(put('k', 'from-b', seen.modRevision))).toEqual({ ok: true, revision: 2 });
    await a.close();
    await b.close();
  });

  it('reports a writer that holds the lock too long as UNAVAILABLE', async () => {
    const store = await openSqliteStore(file, { busyTimeoutMs: 50 });
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    try {
      const err = await store.commit(put('k', 'v')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as Error).message).toMatch(/store .*store\.db: commit: locked by another writer/);
      // Readers are not blocked by the writer in WAL mode.
      await expect(store.read([{ key: 'k' }])).resolves.toMatchObject({ results: [[]] });
    } finally {
      other.exec('ROLLBACK');
      other.close();
      await store.close();
    }
  });

  it('refuses to use a closed store', async () => {
    const store = await openSqliteStore(file);
    await store.close();
    await expect(store.read([])).rejects.toThrow(UnavailableError);
    await store.close(); // idempotent
  });

  it('refuses a file that is not a database', async () => {
    writeFileSync(file, 'this is not sqlite, just text that is long enough to fill a header page'.repeat(20));
    await expect(openSqliteStore(file)).rejects.toThrow(UnavailableError);
  });
});

describe('sqlite migrations', () => {
  it('brings a fresh file to the newest version, once', async () => {
    (await openSqliteStore(file)).close();
    expect(userVersion(file)).toBe(Math.max(...MIGRATIONS.map((m) => m.version)));
    const again = await openSqliteStore(file); // nothing to do, no error
    await again.close();
  });

  it('applies pending steps in order on an older file', async () => {
    const order: number[] = [];
    const extra: Migration[] = [
      ...MIGRATIONS,
      { version: 3, description: 'third', up: (db) => { order.push(3); db.exec('CREATE TABLE t3 (x)'); } },
      { version: 2, description: 'second', up: (db) => { order.push(2); db.exec('CREATE TABLE t2 (x)'); } },
    ];
    (await openSqliteStore(file)).close();
    (await openSqliteStore(file, { migrations: extra })).close();
    expect(order).toEqual([2, 3]);
    expect(userVersion(file)).toBe(3);
  });

  it('a failing step leaves the previous version and schema', async () => {
    (await openSqliteStore(file)).close();
    const broken: Migration[] = [
      ...MIGRATIONS,
      { version: 2, description: 'half done', up: (db) => { db.exec('CREATE TABLE half (x)'); throw new Error('boom'); } },
    ];
    await expect(openSqliteStore(file, { migrations: broken })).rejects.toThrow('boom');
    expect(userVersion(file)).toBe(1);
    const db = new Database(file, { readonly: true });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").all()).toEqual([]);
    db.close();
  });

  it('refuses a file written by a newer build', async () => {
    (await openSqliteStore(file)).close();
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    const err = await openSqliteStore(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncompatibleStateError);
    expect((err as Error).message).toMatch(/schema version 99 is newer than this build supports \(1\)/);
  });
});
