// Optimistic concurrency over any Store (Calico's pattern): read, decide,
// commit with compare-and-swap on everything the decision rested on; when
// another writer got there first, read again and decide again. The attempt
// function must be free of side effects other than building its txn, since
// it may run several times.

import { setTimeout as sleep } from 'node:timers/promises';
import { cancelledBy, throwIfCancelled, UnavailableError } from '../errors.js';
import type { Store, Txn } from './types.js';

export type Attempt<T> =
  /** Commit `txn`; on success the caller gets `result(revision)`. */
  | { readonly txn: Txn; readonly result: (revision: number) => T }
  /** Nothing to write (e.g. already in the desired state). */
  | { readonly done: T };

export interface TransactOptions {
  readonly signal?: AbortSignal;
  /** Default 40: enough for a handful of processes hammering one key. */
  readonly maxAttempts?: number;
  /** Called after a lost race, before the next attempt (e.g. to drop caches). */
  readonly onConflict?: (conflicts: readonly string[]) => void;
  /** What the transaction is about, for the error message. */
  readonly what?: string;
}

export async function transact<T>(
  store: Store,
  attempt: (attemptNo: number) => Promise<Attempt<T>>,
  opts: TransactOptions = {},
): Promise<T> {
  const maxAttempts = opts.maxAttempts ?? 40;
  let conflicts: readonly string[] = [];
  for (let n = 1; n <= maxAttempts; n++) {
    // Safe points for a caller that went away: before each attempt, and
    // after its (possibly long) decision, right before the commit. Once the
    // commit is sent it is not abandoned: it happened or it did not, and
    // its result is returned either way.
    throwIfCancelled(opts.signal);
    const a = await attempt(n);
    if ('done' in a) return a.done;
    throwIfCancelled(opts.signal);
    const res = await store.commit(a.txn, { signal: opts.signal });
    if (res.ok) return a.result(res.revision);
    conflicts = res.conflicts;
    opts.onConflict?.(conflicts);
    await backoff(n, opts.signal);
  }
  throw new UnavailableError(
    `${opts.what ?? 'store transaction'}: still conflicting after ${maxAttempts} attempts (keys ${conflicts.join(', ')}); retry later`,
  );
}

// Jittered exponential backoff, capped low: conflicts mean another writer is
// making progress, so a short wait is usually enough.
async function backoff(attemptNo: number, signal?: AbortSignal): Promise<void> {
  const cap = Math.min(50, 2 ** Math.min(attemptNo, 6));
  const ms = Math.random() * cap;
  try {
    await sleep(ms, undefined, { signal });
  } catch (e) {
    if (signal?.aborted) throw cancelledBy(signal);
    throw e;
  }
}
