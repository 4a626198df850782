// The background half of expiry and cooldown: calls ipam.sweep() every
// interval until the signal aborts. A failed sweep (store briefly locked,
// say) is reported and retried at the next tick; it never stops the loop.

import { setTimeout as sleep } from 'node:timers/promises';
import type { Ipam } from './ipam.js';
import type { SweepResult } from './types.js';

export interface SweeperOptions {
  readonly signal: AbortSignal;
  /** Default 30 s: expiry and cooldown are minutes, so this keeps lateness small. */
  readonly intervalMs?: number;
  readonly onSweep?: (r: SweepResult) => void;
  readonly onError?: (err: unknown) => void;
}

/** Resolves when `signal` aborts. */
export async function runSweeper(ipam: Pick<Ipam, 'sweep'>, opts: SweeperOptions): Promise<void> {
  const interval = opts.intervalMs ?? 30_000;
  const onError = opts.onError ?? ((err: unknown) => console.error('ipam sweeper:', err));
  while (!opts.signal.aborted) {
    try {
      await sleep(interval, undefined, { signal: opts.signal });
      // Not inlined into onSweep?.(…): an optional call skips evaluating its argument.
      const result = await ipam.sweep({ signal: opts.signal });
      opts.onSweep?.(result);
    } catch (err) {
      if (opts.signal.aborted) return;
      onError(err);
    }
  }
}
