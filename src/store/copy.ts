// Moving a whole store to another (SQLite → etcd when one controller is no
// longer enough, and back): every key and value, read at one revision of the
// source, written into an empty destination, then read back and compared.
// Revisions are the destination's own (every CAS token is a revision of the
// store it was read from; no value holds one). Leader keys are not copied:
// a leadership belongs to the running controllers of one store.
//
// The destination is written in batches (etcd refuses transactions of more
// than --max-txn-ops operations, 128 by default); the controllers must be
// stopped meanwhile. A copy that stopped half-way leaves a destination that
// is not empty, which the next copy refuses: remove it and copy again.
import { IncompatibleStateError } from '../errors.js';
import type { Entry, Store } from './types.js';

export interface CopyResult {
  /** The source's revision the copy is of. */
  revision: number;
  keys: number;
  bytes: number;
}

const BATCH_OPS = 100;
const BATCH_BYTES = 1024 * 1024;
const skipped = (key: string): boolean => key.startsWith('leader/');

export async function copyStore(from: Store, to: Store, o: { signal?: AbortSignal } = {}): Promise<CopyResult> {
  const snap = await from.read([{ prefix: '' }], o);
  const entries = snap.results[0]!.filter((e) => !skipped(e.key));
  const there = (await to.read([{ prefix: '' }], o)).results[0]!.filter((e) => !skipped(e.key));
  if (there.length) {
    throw new IncompatibleStateError(`store copy: the destination is not empty (${there.length} key${there.length === 1 ? '' : 's'}, e.g. ${there[0]!.key}); copy only into a new store`);
  }
  let batch: Entry[] = [];
  let size = 0;
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    const r = await to.commit({ compares: [], ops: batch.map((e) => ({ type: 'put' as const, key: e.key, value: e.value, expect: 0 })) }, o);
    if (!r.ok) throw new IncompatibleStateError(`store copy: another writer is using the destination (${r.conflicts.slice(0, 3).join(', ')}); stop every controller on it`);
    batch = [];
    size = 0;
  };
  let bytes = 0;
  for (const e of entries) {
    if (batch.length >= BATCH_OPS || size + e.value.length > BATCH_BYTES) await flush();
    batch.push(e);
    size += e.key.length + e.value.length;
    bytes += e.value.length;
  }
  await flush();
  // Read back: the destination holds exactly the source's keys and values.
  const back = (await to.read([{ prefix: '' }], o)).results[0]!.filter((e) => !skipped(e.key));
  const want = new Map(entries.map((e) => [e.key, e.value]));
  const wrong = back.filter((e) => want.get(e.key) !== e.value).map((e) => e.key);
  if (back.length !== entries.length || wrong.length) {
    throw new IncompatibleStateError(`store copy: the destination differs after the copy (${back.length} keys of ${entries.length}; differing: ${wrong.slice(0, 3).join(', ')}); another writer is using it`);
  }
  return { revision: snap.revision, keys: entries.length, bytes };
}
