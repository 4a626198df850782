// Bookkeeping shared by the pool and identifier indices: which stored
// records hold space, which of those are cooling down, and which cooldowns
// have run out (their space is free again, their records wait to be deleted
// by the next transaction that writes the same guard key).

import type { HoldState } from './records.js';

/** A stored record that holds space: its key, its CAS revision, its contents. */
export interface Held {
  readonly key: string;
  readonly modRevision: number;
  readonly record: { readonly state: HoldState; readonly until?: number; readonly slice: string };
}

export class Holds<H extends Held> {
  readonly byKey = new Map<string, H>();
  /** Records whose cooldown has run out; their space is already free. */
  stale: H[] = [];
  #nextExpiry = Infinity;

  add(h: H): void {
    this.byKey.set(h.key, h);
    if (h.record.state === 'cooldown') this.#nextExpiry = Math.min(this.#nextExpiry, h.record.until ?? 0);
  }

  /** Moves every cooldown that ended by `now` to `stale`, handing each to `free`. */
  expire(now: number, free: (h: H) => void): void {
    if (now < this.#nextExpiry) return;
    let next = Infinity;
    for (const h of this.byKey.values()) {
      if (h.record.state !== 'cooldown') continue;
      const until = h.record.until ?? 0;
      if (until <= now) {
        this.byKey.delete(h.key);
        this.stale.push(h);
        free(h);
      } else {
        next = Math.min(next, until);
      }
    }
    this.#nextExpiry = next;
  }

  counts(): { live: number; cooling: number } {
    let live = 0;
    for (const h of this.byKey.values()) if (h.record.state === 'live') live++;
    return { live, cooling: this.byKey.size - live };
  }
}
