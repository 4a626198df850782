// Expiry: slices past their end time, and allocations not provisioned in
// time, are taken down by the controller itself, each on its slice's queue
// (the slice verbs' tearDown: the release is in the same commit as the
// records); the IPAM's own sweep then only releases allocations no slice of
// ours has, and collects ended cooldowns. Time is the injected clock's.
// With several controllers on one store only the elected leader sweeps, and
// every commit of a sweep is fenced by its leadership (store/leadership.ts):
// a controller that lost the lead mid-sweep writes nothing more.
import type { Clock } from '../ipam/clock.js';
import type { Ipam } from '../ipam/index.js';
import { asLeader, type Leadership } from '../store/leadership.js';
import type { SliceRecord } from './model.js';
import type { KeyedQueue } from './queue.js';
import type { Emit } from './state.js';

export interface SweeperDeps {
  slices: ReadonlyMap<string, SliceRecord>; queue: KeyedQueue; clock: Clock; ipam: Ipam; emit: Emit;
  /** Takes an expired slice down (called on its queue). */
  expire: (s: SliceRecord) => Promise<unknown>;
  /** Sweeps only while this controller leads. */
  leadership: Leadership;
}

/** Whether a slice is due for expiry at `now`. */
export const due = (s: SliceRecord, now: number): boolean => s.endTime <= now || (s.state === 'allocated' && s.expiresAt !== undefined && s.expiresAt <= now);

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly d: SweeperDeps) {}

  /** Sweeps every `everyMs` until stop(); a failed sweep is an event, and the next one tries again. */
  start(everyMs: number): void {
    this.timer = setInterval(() => {
      if (this.d.leadership.token() === undefined) return;
      asLeader(this.d.leadership, () => this.sweep()).catch((e: Error) => this.d.emit('error', { message: `sweep: ${e.message}` }));
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async sweep(): Promise<void> {
    const now = this.d.clock.now();
    for (const s of [...this.d.slices.values()]) {
      if (!due(s, now)) continue;
      await this.d.queue.run(`slice/${s.slice}`, async () => {
        const cur = this.d.slices.get(s.slice);
        if (cur && due(cur, now)) await this.d.expire(cur);
      });
    }
    await this.d.ipam.sweep({ keep: (slice) => this.d.slices.has(slice) });
  }
}
