// The SQLite store on a thread of its own. better-sqlite3 is synchronous:
// on the controller's event loop, a commit of a 10,000-link slice (about
// 8 MB, plus the WAL's fsync and now and then a checkpoint) held every other
// caller for 50-100 ms. Here the same store (sqlite-store.ts, unchanged:
// one IMMEDIATE transaction per commit, WAL, the same file format) runs in a
// worker thread, and the loop only posts the request and takes the answer.
// Calls are answered in the order they were made (the worker runs one at a
// time), so a read after a commit sees it.
import { IncompatibleStateError, InvalidSpecError, UnavailableError } from '../errors.js';
import { startWorker } from '../worker.js';
import type { SqliteStoreOptions } from './sqlite-store.js';
import type { CallOptions, CommitResult, Query, Snapshot, Store, Txn } from './types.js';

export type Request =
  | { id: number; op: 'open'; file: string; opts: Omit<SqliteStoreOptions, 'migrations'> }
  | { id: number; op: 'read'; queries: readonly Query[] }
  | { id: number; op: 'commit'; txn: Txn }
  | { id: number; op: 'close' };
type Call = Request extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { name: string; code?: string; message: string; field?: string } };

/** An error as it crossed the thread: its class back where we have one (the store throws few kinds). */
function revive(e: Extract<Reply, { ok: false }>['error']): Error {
  const opts = e.field !== undefined ? { field: e.field } : {};
  if (e.code === 'VISP_UNAVAILABLE') return new UnavailableError(e.message, opts);
  if (e.code === 'VISP_INVALID_SPEC') return new InvalidSpecError(e.message, opts);
  if (e.code === 'VISP_INCOMPATIBLE_STATE') return new IncompatibleStateError(e.message, opts);
  if (e.name === 'TypeError') return new TypeError(e.message);
  return new Error(e.message);
}

export async function openSqliteStoreThreaded(file: string, opts: Omit<SqliteStoreOptions, 'migrations'> = {}): Promise<Store> {
  // The compiled worker beside the compiled module, or the TypeScript one beside the source (startWorker boots tsx for it).
  const worker = startWorker(new URL(import.meta.url.endsWith('.ts') ? './sqlite-worker.ts' : './sqlite-worker.js', import.meta.url));
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 1;
  let dead: Error | undefined;
  const fail = (e: Error): void => {
    dead ??= new UnavailableError(`store ${file}: its thread stopped (${e.message})`);
    for (const w of waiting.values()) w.reject(dead);
    waiting.clear();
  };
  worker.on('message', (r: Reply) => {
    const w = waiting.get(r.id);
    if (!w) return;
    waiting.delete(r.id);
    if (waiting.size === 0) worker.unref();
    if (r.ok) w.resolve(r.value);
    else w.reject(revive(r.error));
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  const call = async <T>(req: Call, o?: CallOptions): Promise<T> => {
    o?.signal?.throwIfAborted();
    if (dead) throw dead;
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      if (waiting.size === 0) worker.ref(); // a call in flight keeps the process alive until it is answered
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ ...req, id });
    });
  };
  try {
    await call({ op: 'open', file, opts });
  } catch (e) {
    await worker.terminate();
    throw e;
  }
  // Idle, the thread does not keep a process alive that is otherwise done (a CLI, a test); a call in flight does.
  let closed = false;
  return {
    read: (queries, o) => (closed ? Promise.reject(new UnavailableError(`store ${file}: closed`)) : call<Snapshot>({ op: 'read', queries }, o)),
    commit: (txn, o) => (closed ? Promise.reject(new UnavailableError(`store ${file}: closed`)) : call<CommitResult>({ op: 'commit', txn }, o)),
    async close() {
      if (closed) return;
      closed = true;
      try {
        await call({ op: 'close' });
      } finally {
        dead ??= new UnavailableError(`store ${file}: closed`);
        await worker.terminate();
      }
    },
  };
}
