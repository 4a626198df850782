// What every IPAM operation needs: the store, the shared in-memory indices,
// the clock, and the options for its optimistic transaction. Also how a
// caller's own records join an operation's transaction (`Also`).
import { UnavailableError } from '../errors.js';
import type { Op, Store, TransactOptions, TxnBuilder } from '../store/index.js';
import type { Clock } from './clock.js';
import type { IndexCache } from './index-cache.js';
import { IPAM_PREFIX } from './records.js';

export interface OpContext {
  readonly store: Store;
  readonly cache: IndexCache;
  readonly clock: Clock;
  readonly maxAttempts?: number;
  /** For the sweeper: an expired allocation of a slice this says yes to is left for its owner to release. */
  readonly keep?: (slice: string) => boolean;
}

/**
 * The caller's own records, written in the very transaction of an IPAM
 * operation, so that both are in the store or neither is (a controller's
 * slice record with the slice's allocation, its teardown records with the
 * release). Why one transaction and not an intent that recovery completes:
 * the store already gives all-or-nothing commits, and a crash then has
 * nothing to recover; an intent log would be a second, hand-made
 * transaction mechanism with its own crash windows to test.
 */
export interface Also<R> {
  /**
   * The caller's puts and deletes, given what this attempt of the operation
   * decided; each names the revision it expects its key at (0 = absent). Called
   * again on every retry. Throwing aborts the operation: nothing is written.
   * Keys under ipam/ are refused: they are the IPAM's own.
   */
  readonly ops: (result: R) => readonly Op[] | Promise<readonly Op[]>;
  /**
   * Called once, with the revision of the commit that carried the ops,
   * synchronously after it (before the IPAM runs its next operation).
   */
  readonly committed?: (revision: number, result: R) => void;
}

/** Options of an operation that changes state: the signal, and the caller's records to write with it. */
export interface WriteOptions<R> {
  readonly signal?: AbortSignal;
  readonly also?: Also<R>;
}

/** Adds the caller's ops for `result` to the operation's transaction. */
export async function joinAlso<R>(tb: TxnBuilder, also: Also<R> | undefined, result: R): Promise<TxnBuilder> {
  // May take turns (a big slice's records are built and serialized in stretches): the IPAM's serial queue keeps other operations out meanwhile.
  for (const op of (await also?.ops(result)) ?? []) {
    if (op.key.startsWith(IPAM_PREFIX)) throw new TypeError(`IPAM: a caller's write may not touch ${op.key}: keys under ${IPAM_PREFIX} are the IPAM's own`);
    if (op.type === 'put') tb.put(op.key, op.value, op.expect);
    else tb.delete(op.key, op.expect);
  }
  return tb;
}

/** Tells the caller its records are in, at `revision`; returns the operation's result. */
export function afterCommit<R>(also: Also<R> | undefined, revision: number, result: R): R {
  also?.committed?.(revision, result);
  return result;
}

/**
 * A lost race on the IPAM's own keys is retried (it plans again from what
 * the other writer left); one on a caller's key is not: the caller named the
 * revision it expects, and only it can decide again.
 */
export function txOptions(ctx: OpContext, what: string, signal: AbortSignal | undefined, onConflict?: () => void): TransactOptions {
  return {
    what,
    ...(signal ? { signal } : {}),
    ...(ctx.maxAttempts ? { maxAttempts: ctx.maxAttempts } : {}),
    onConflict: (conflicts) => {
      onConflict?.();
      const theirs = conflicts.filter((k) => !k.startsWith(IPAM_PREFIX));
      if (theirs.length) throw new UnavailableError(`${what}: ${theirs.join(', ')} was changed by another writer; nothing was written, retry`);
    },
  };
}
