// The timer behind changes at a given time (docs/links.md, "At a given
// time"). The changes themselves live in their slices' records (so they
// survive a restart and go with their slice); this keeps one timer, set for
// the earliest of them, and when it fires asks the slice verbs to make what
// is due, slice by slice, each on its slice's queue. After a restart the
// first pass makes, in order, whatever fell due while the controller was
// down: late, and the event says how late. Time is the injected clock's.
// With several controllers on one store only the elected leader makes them,
// its commits fenced by its leadership (store/leadership.ts); the others
// look again every second in case they come to lead.
import type { Clock } from '../ipam/clock.js';
import { asLeader, type Leadership } from '../store/leadership.js';
import type { SliceRecord } from './model.js';
import type { Emit } from './state.js';

export interface SchedulerDeps {
  slices: ReadonlyMap<string, SliceRecord>;
  clock: Clock;
  emit: Emit;
  /** Makes the slice's changes due at `now` (SliceVerbs.runScheduled). */
  run: (slice: string, now: number) => Promise<void>;
  /** Makes changes only while this controller leads (default: always). */
  leadership?: Leadership;
}

const NOT_LEADING_RETRY_MS = 1000;

/** setTimeout's longest delay; a later change is waited for in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * A slice whose due changes could not be run (its record could not be
 * written: the store is down, the disk full) is tried again this much later,
 * not at once: its change is still due, and at once is a loop.
 */
export const RETRY_MS = 5000;

export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private busy: Promise<void> | undefined;
  private again = false;
  /** Slices whose last run failed → when to try them again. */
  private readonly retryAt = new Map<string, number>();

  constructor(private readonly d: SchedulerDeps) {}

  start(): void {
    this.stopped = false;
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Sets the timer for the earliest scheduled change (call after any change to them). */
  arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let first = Infinity;
    for (const s of this.d.slices.values()) {
      const t = this.dueAt(s);
      if (t < first) first = t;
    }
    if (first === Infinity) return;
    const l = this.d.leadership;
    const wait = Math.min(Math.max(first - this.d.clock.now(), 0), MAX_DELAY_MS);
    this.timer = setTimeout(() => { void this.runDue(); }, l && l.token() === undefined ? Math.max(wait, NOT_LEADING_RETRY_MS) : wait);
    this.timer.unref();
  }

  /** When the slice's first change is to be made: its time, or later when the last try failed. */
  private dueAt(s: SliceRecord): number {
    const t = s.scheduled?.[0]?.at;
    return t === undefined ? Infinity : Math.max(t, this.retryAt.get(s.slice) ?? -Infinity);
  }

  /** Makes every change due now; one pass at a time (a pass asked for meanwhile runs after it). */
  runDue(): Promise<void> {
    if (this.busy) {
      this.again = true;
      return this.busy;
    }
    this.busy = (async () => {
      do {
        this.again = false;
        const now = this.d.clock.now();
        const l = this.d.leadership;
        if (l && l.token() === undefined) break; // another controller leads and makes them
        for (const s of [...this.d.slices.values()]) {
          if (this.dueAt(s) > now) continue;
          const run = (): Promise<void> => this.d.run(s.slice, now);
          try {
            await (l ? asLeader(l, run) : run());
            this.retryAt.delete(s.slice);
          } catch (e) {
            this.retryAt.set(s.slice, now + RETRY_MS);
            this.d.emit('error', { slice: s.slice, message: `scheduled changes: ${(e as Error).message} (tried again in ${RETRY_MS / 1000} s)` });
          }
        }
        for (const slice of this.retryAt.keys()) if (!this.d.slices.has(slice)) this.retryAt.delete(slice);
      } while (this.again);
    })().finally(() => {
      this.busy = undefined;
      this.arm();
    });
    return this.busy;
  }
}
