// What every IPAM operation needs: the store, the shared in-memory indices,
// the clock, and the options for its optimistic transaction.
import type { Store, TransactOptions } from '../store/index.js';
import type { Clock } from './clock.js';
import type { IndexCache } from './index-cache.js';

export interface OpContext {
  readonly store: Store;
  readonly cache: IndexCache;
  readonly clock: Clock;
  readonly maxAttempts?: number;
}

export function txOptions(ctx: OpContext, what: string, signal: AbortSignal | undefined, onConflict?: () => void): TransactOptions {
  return {
    what,
    ...(signal ? { signal } : {}),
    ...(ctx.maxAttempts ? { maxAttempts: ctx.maxAttempts } : {}),
    ...(onConflict ? { onConflict } : {}),
  };
}
