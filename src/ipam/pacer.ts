// Long synchronous work in slices: a big request (10,000 links) is placed,
// planned and turned into records in loops that would hold the event loop
// for a second or more, while every other caller (another AM's Status, an
// agent's report) waits. A Pacer lets such a loop run for a few milliseconds,
// then gives the event loop a turn (setImmediate: pending I/O and timers run
// first) and goes on. One Pacer is shared by every phase of one operation, so
// the budget counts from the last yield, not from each phase's start.
// It lives in ipam/ (the lowest layer that paces) and the controller uses it too.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { throwIfCancelled } from '../errors.js';

/** How long one stretch of synchronous work may run before it yields, ms. */
export const PACE_MS = 8;

export class Pacer {
  private since = performance.now();
  /** Yields taken (tests and benchmarks). */
  yields = 0;

  constructor(private readonly signal?: AbortSignal, private readonly budgetMs = PACE_MS) {}

  /** Whether this stretch has used its budget (cheap: call it per item, pause only when true). */
  due(): boolean {
    return performance.now() - this.since >= this.budgetMs;
  }

  /**
   * Gives the event loop a turn now. Between two stretches is a safe point:
   * a caller that went away (the signal aborted) stops here with a
   * CancelledError, before anything of its work is committed.
   */
  async pause(): Promise<void> {
    throwIfCancelled(this.signal);
    await nextTurn();
    this.yields++;
    throwIfCancelled(this.signal);
    this.since = performance.now();
  }

  /** Pauses if the budget is used. */
  async check(): Promise<void> {
    if (this.due()) await this.pause();
  }

  /** xs.map(f), pausing between items whenever the budget is used. */
  async map<T, U>(xs: readonly T[], f: (x: T, i: number) => U): Promise<U[]> {
    const out = new Array<U>(xs.length);
    for (let i = 0; i < xs.length; i++) {
      if ((i & 15) === 0 && this.due()) await this.pause();
      out[i] = f(xs[i]!, i);
    }
    return out;
  }

  /** xs.forEach(f), pausing likewise. */
  async each<T>(xs: Iterable<T>, f: (x: T, i: number) => void): Promise<void> {
    let i = 0;
    for (const x of xs) {
      if ((i & 15) === 0 && this.due()) await this.pause();
      f(x, i++);
    }
  }
}
