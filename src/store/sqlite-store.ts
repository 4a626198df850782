// The embedded default store: one SQLite file in WAL mode (readers never
// block the writer, several processes may share the file), every commit one
// IMMEDIATE transaction that checks all compares under the write lock and
// then applies all ops, so a kill -9 at any point leaves either the whole
// commit or none of it. better-sqlite3 is synchronous; the async signatures
// are the Store contract, shared with a future networked store.

import Database from 'better-sqlite3';
import { throwIfCancelled, UnavailableError, VispError } from '../errors.js';
import { assertQuery, assertTxn, prefixEnd } from './keys.js';
import { migrate, type Migration } from './sqlite-migrations.js';
import type { CallOptions, CommitResult, Entry, Query, Snapshot, Store, Txn } from './types.js';

export interface SqliteStoreOptions {
  /**
   * 'full' (default) fsyncs the WAL on every commit: a commit that returned
   * survives power loss. 'normal' survives a crash of the process (kill -9)
   * but not of the machine; it is several times faster.
   */
  readonly durability?: 'full' | 'normal';
  /** How long a writer waits for another process's write lock. */
  readonly busyTimeoutMs?: number;
  /** For tests of the migration machinery. */
  readonly migrations?: readonly Migration[];
}

interface Row {
  key: string;
  value: string;
  create_revision: number;
  mod_revision: number;
  version: number;
}

const toEntry = (r: Row): Entry => ({
  key: r.key,
  value: r.value,
  createRevision: r.create_revision,
  modRevision: r.mod_revision,
  version: r.version,
});

export async function openSqliteStore(file: string, opts: SqliteStoreOptions = {}): Promise<Store> {
  const db = guard('open', file, () => openDatabase(file, opts));
  try {
    return createSqliteStore(db, file);
  } catch (err) {
    db.close();
    throw err;
  }
}

function openDatabase(file: string, opts: SqliteStoreOptions): Database.Database {
  const db = new Database(file, { timeout: opts.busyTimeoutMs ?? 5000 });
  try {
    setJournalMode(db);
    db.pragma(`synchronous = ${opts.durability === 'normal' ? 'NORMAL' : 'FULL'}`);
    migrate(db, file, opts.migrations);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

// Switching a fresh file to WAL needs a moment of exclusive access; when
// several processes open the same new file at once, one of them may be told
// SQLITE_BUSY without the busy handler being consulted, so retry briefly.
function setJournalMode(db: Database.Database): void {
  for (let attempt = 0; ; attempt++) {
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && !db.memory) throw new UnavailableError(`store ${db.name}: cannot enable WAL (journal mode is ${String(mode)})`);
      return;
    } catch (err) {
      if (attempt >= 50 || !isBusy(err)) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

function createSqliteStore(db: Database.Database, file: string): Store {
  const getOne = db.prepare<[string], Row>('SELECT key, value, create_revision, mod_revision, version FROM kv WHERE key = ?');
  const getRange = db.prepare<[string, string], Row>(
    'SELECT key, value, create_revision, mod_revision, version FROM kv WHERE key >= ? AND key < ? ORDER BY key',
  );
  const getFrom = db.prepare<[string], Row>(
    'SELECT key, value, create_revision, mod_revision, version FROM kv WHERE key >= ? ORDER BY key',
  );
  const getRevision = db.prepare<[], number>("SELECT value FROM meta WHERE name = 'revision'").pluck();
  const setRevision = db.prepare<[number], unknown>("UPDATE meta SET value = ? WHERE name = 'revision'");
  const modRevisionOf = db.prepare<[string], number>('SELECT mod_revision FROM kv WHERE key = ?').pluck();
  const upsert = db.prepare<[string, string, number, number], unknown>(`
    INSERT INTO kv (key, value, create_revision, mod_revision, version) VALUES (?, ?, ?, ?, 1)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision, version = version + 1
  `);
  const remove = db.prepare<[string], unknown>('DELETE FROM kv WHERE key = ?');

  const readOne = (q: Query): Entry[] => {
    if ('key' in q) {
      const row = getOne.get(q.key);
      return row ? [toEntry(row)] : [];
    }
    const end = prefixEnd(q.prefix);
    return (end === undefined ? getFrom.all(q.prefix) : getRange.all(q.prefix, end)).map(toEntry);
  };

  // A deferred transaction pins one WAL snapshot for all the queries.
  const readAll = db.transaction((queries: readonly Query[]): Snapshot => {
    const results = queries.map(readOne);
    return { revision: getRevision.get() ?? 0, results };
  });

  const commitTxn = db.transaction((txn: Txn): CommitResult => {
    const current = (key: string): number => modRevisionOf.get(key) ?? 0;
    const conflicts = new Set<string>();
    for (const c of txn.compares) if (current(c.key) !== c.modRevision) conflicts.add(c.key);
    for (const op of txn.ops) if (current(op.key) !== op.expect) conflicts.add(op.key);
    if (conflicts.size > 0) return { ok: false, conflicts: [...conflicts] };
    const before = getRevision.get() ?? 0;
    if (txn.ops.length === 0) return { ok: true, revision: before };
    const revision = before + 1;
    setRevision.run(revision);
    for (const op of txn.ops) {
      if (op.type === 'put') upsert.run(op.key, op.value, revision, revision);
      else remove.run(op.key);
    }
    return { ok: true, revision };
  });

  let closed = false;
  const ensureOpen = (opts?: CallOptions): void => {
    if (closed) throw new UnavailableError(`store ${file}: closed`);
    // Checked before a commit starts, never during one: it happens entirely or not at all.
    throwIfCancelled(opts?.signal);
  };

  return {
    async read(queries, opts) {
      ensureOpen(opts);
      queries.forEach(assertQuery);
      return guard('read', file, () => readAll(queries));
    },
    async commit(txn, opts) {
      ensureOpen(opts);
      assertTxn(txn);
      return guard('commit', file, () => commitTxn.immediate(txn));
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}

const isBusy = (err: unknown): boolean =>
  err instanceof Database.SqliteError && (err.code === 'SQLITE_BUSY' || err.code.startsWith('SQLITE_BUSY_') || err.code === 'SQLITE_LOCKED');

// SQLite failures (locked too long, disk full, not a database) become
// UnavailableError naming the file and the operation; ours pass through.
function guard<T>(op: string, file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof VispError || !(err instanceof Database.SqliteError)) throw err;
    const why = isBusy(err) ? 'locked by another writer for too long' : err.message;
    throw new UnavailableError(`store ${file}: ${op}: ${why} (${err.code})`, { cause: err });
  }
}
