// One space of underlay address pairs in memory (see UnderlayPairsSpec in
// types.ts): the pairs held, live or cooling down, and their records, valid
// for one revision of the space's guard key (see pool-index.ts for why).
// Uniqueness needs no arithmetic here: a pair is its store key, and a plan
// takes a key at most once.

import { IncompatibleStateError } from '../errors.js';
import type { Entry } from '../store/index.js';
import { Holds, type Held } from './holds.js';
import { decode, keys, PAIR_FIELDS, SET_FIELDS, type PairRecord, type SetRecord } from './records.js';

export interface HeldPair extends Held {
  readonly record: PairRecord;
}

export class PairIndex {
  readonly space: string;
  readonly holds = new Holds<HeldPair>();
  /** Keys of the pairs taken: those held, and those a plan took that is not committed yet. */
  readonly #taken = new Set<string>();
  revision: number;
  changes: number;

  private constructor(space: string, revision: number, changes: number) {
    this.space = space;
    this.revision = revision;
    this.changes = changes;
  }

  static build(space: string, guard: Entry | undefined, entries: readonly Entry[], now: number): PairIndex {
    const set = guard ? decode<SetRecord>(guard, SET_FIELDS) : { changes: 0 };
    const idx = new PairIndex(space, guard?.modRevision ?? 0, set.changes);
    for (const e of entries) {
      const record = decode<PairRecord>(e, PAIR_FIELDS);
      if (record.space !== space || keys.pair(space, record) !== e.key) {
        throw new IncompatibleStateError(`${space}: store record ${e.key} names the pair ${record.space} ${record.a} ${record.b}; run the IPAM check`);
      }
      idx.#taken.add(e.key);
      idx.holds.add({ key: e.key, modRevision: e.modRevision, record });
    }
    idx.expire(now);
    return idx;
  }

  expire(now: number): void {
    this.holds.expire(now, (h) => this.free(h));
  }

  /** A pair's key is free again (its record is already gone from `holds`). */
  free(h: HeldPair): void {
    this.#taken.delete(h.key);
  }

  /** Is the pair with this key held, or taken by a plan? */
  taken(key: string): boolean {
    return this.#taken.has(key);
  }

  /** Takes the pair with this key for a plan; false when it is held or taken already. */
  take(key: string): boolean {
    if (this.#taken.has(key)) return false;
    this.#taken.add(key);
    return true;
  }

  /** The guard record to write with the next change to this space. */
  nextGuard(): SetRecord {
    return { changes: this.changes + 1 };
  }

  /** After a commit that wrote the guard and deleted the stale records. */
  committed(revision: number): void {
    this.holds.stale = [];
    this.revision = revision;
    this.changes++;
  }
}
