// An online backup of the embedded store: a consistent copy taken while the
// controller keeps writing. SQLite's VACUUM INTO copies one read snapshot (in
// WAL mode readers never block the writer, and the writer never disturbs the
// snapshot), so the copy is a state the store really had: some commit's,
// never half of one. The copy is written beside its destination, checked
// (SQLite's integrity check, visp's tables), synced, and renamed into place,
// so the destination is either the old file or the whole new backup.
import Database from 'better-sqlite3';
import { chownSync, closeSync, existsSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidSpecError, NotFoundError, UnavailableError } from '../errors.js';

export interface BackupResult {
  /** The store's revision in the copy (the last commit it holds). */
  revision: number;
  /** Keys in the copy. */
  keys: number;
  /** The store's schema version (PRAGMA user_version). */
  schema: number;
  bytes: number;
  out: string;
}

function sameFile(a: string, b: string): boolean {
  try { return realpathSync(a) === realpathSync(b); } catch { return false; }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/**
 * Copy the store `file` to `out` (replacing it). The store may be in use by a
 * running controller; it is opened read-only and never written. The copy
 * is mode 0600.
 */
export function backupSqliteStore(file: string, out: string, opts: { busyTimeoutMs?: number } = {}): BackupResult {
  if (!existsSync(file)) throw new NotFoundError(`store: ${file} does not exist`, { field: 'store' });
  if (sameFile(file, out) || resolve(out) === resolve(file)) throw new InvalidSpecError(`out: ${out} is the store itself; write the backup elsewhere`, { field: 'out' });
  for (const suffix of ['-wal', '-shm']) {
    if (resolve(out) === resolve(file + suffix)) throw new InvalidSpecError(`out: ${out} is one of the store's own files`, { field: 'out' });
  }
  if (!existsSync(dirname(resolve(out)))) throw new NotFoundError(`out: directory ${dirname(resolve(out))} does not exist`, { field: 'out' });

  // A read-only connection to a WAL database creates the -wal and -shm files
  // when no other connection has them open, and cannot remove them when it
  // closes. Made by root for a store the controller opens as its own user,
  // they would leave that controller unable to write: hand them over.
  const sidecars = ['-wal', '-shm'].map((s) => file + s);
  const existed = sidecars.map((f) => existsSync(f));
  const owner = statSync(file);

  const tmp = join(dirname(resolve(out)), `.${basename(out)}.tmp-${process.pid}`);
  rmSync(tmp, { force: true });
  // The store holds secrets (providers' BGP passwords): the copy is readable
  // by its owner only from the start (VACUUM INTO accepts an empty file).
  closeSync(openSync(tmp, 'wx', 0o600));
  let db: Database.Database | undefined;
  try {
    try {
      db = new Database(file, { readonly: true, fileMustExist: true, timeout: opts.busyTimeoutMs ?? 5000 });
      const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name);
      if (!tables.includes('kv') || !tables.includes('meta')) throw new InvalidSpecError(`store: ${file} is not a visp store (no kv and meta tables)`, { field: 'store' });
      db.prepare('VACUUM INTO ?').run(tmp);
    } finally {
      db?.close();
      if (process.getuid?.() === 0) {
        sidecars.forEach((f, i) => {
          if (existed[i] || !existsSync(f)) return;
          try { chownSync(f, owner.uid, owner.gid); } catch { /* gone meanwhile */ }
        });
      }
    }
    const result = check(tmp);
    fsyncPath(tmp);
    renameSync(tmp, out);
    fsyncPath(dirname(resolve(out)));
    return { ...result, out, bytes: statSync(out).size };
  } catch (e) {
    rmSync(tmp, { force: true });
    if (e instanceof Database.SqliteError) throw new UnavailableError(`backup of ${file}: ${e.message} (${e.code})`, { cause: e });
    throw e;
  }
}

/** What a backup file holds; a damaged or foreign file is an error. */
export function inspectBackup(file: string): Omit<BackupResult, 'out' | 'bytes'> {
  return check(file);
}

function check(file: string): Omit<BackupResult, 'out' | 'bytes'> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const ok = db.pragma('integrity_check', { simple: true });
    if (ok !== 'ok') throw new UnavailableError(`backup ${file}: integrity check failed: ${String(ok)}`);
    const revision = db.prepare<[], number>("SELECT value FROM meta WHERE name = 'revision'").pluck().get() ?? 0;
    const keys = db.prepare<[], number>('SELECT count(*) FROM kv').pluck().get() ?? 0;
    const schema = db.pragma('user_version', { simple: true }) as number;
    return { revision, keys, schema };
  } finally {
    db.close();
  }
}
