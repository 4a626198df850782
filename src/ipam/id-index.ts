// One identifier kind in memory: the taken runs and their records, valid
// for one revision of the kind's guard key (see pool-index.ts for why).

import { IncompatibleStateError } from '../errors.js';
import type { Entry } from '../store/index.js';
import { IdSpace, type IdRange } from './id-space.js';
import { decode, RUN_FIELDS, SET_FIELDS, type IdRunRecord, type SetRecord } from './records.js';
import { Holds, type Held } from './holds.js';
import type { IdentifierKind } from './types.js';

export interface HeldRun extends Held {
  readonly record: IdRunRecord;
}

export class IdIndex {
  readonly kind: IdentifierKind;
  readonly ranges: readonly IdRange[];
  readonly space: IdSpace;
  readonly holds = new Holds<HeldRun>();
  revision: number;
  changes: number;
  cursor: number;

  private constructor(kind: IdentifierKind, ranges: readonly IdRange[], revision: number, set: SetRecord) {
    this.kind = kind;
    this.ranges = ranges;
    this.space = new IdSpace(ranges);
    this.revision = revision;
    this.changes = set.changes;
    this.cursor = set.cursor ?? ranges[0]?.first ?? 0;
  }

  static build(kind: IdentifierKind, ranges: readonly IdRange[], guard: Entry | undefined, runs: readonly Entry[], now: number): IdIndex {
    const set = guard ? decode<SetRecord>(guard, SET_FIELDS) : { changes: 0 };
    const idx = new IdIndex(kind, ranges, guard?.modRevision ?? 0, set);
    for (const e of runs) {
      const record = decode<IdRunRecord>(e, RUN_FIELDS);
      if (!idx.space.take({ start: record.start, count: record.count })) {
        throw new IncompatibleStateError(`${kind}: store holds overlapping runs, one of them ${e.key} (${record.start}+${record.count})`);
      }
      idx.holds.add({ key: e.key, modRevision: e.modRevision, record });
    }
    idx.expire(now);
    return idx;
  }

  expire(now: number): void {
    this.holds.expire(now, (h) => this.free(h));
  }

  /** Returns a run's identifiers to the space (its record is already gone from `holds`). */
  free(h: HeldRun): void {
    this.space.release({ start: h.record.start, count: h.record.count });
  }

  /** The guard record to write with the next change, carrying the cursor. */
  nextGuard(cursor = this.cursor): SetRecord {
    return { changes: this.changes + 1, cursor };
  }

  /** After a commit that wrote the guard and deleted the stale records. */
  committed(revision: number, cursor = this.cursor): void {
    this.holds.stale = [];
    this.revision = revision;
    this.changes++;
    this.cursor = cursor;
  }

  sameRanges(ranges: readonly IdRange[]): boolean {
    return ranges === this.ranges || (ranges.length === this.ranges.length && ranges.every((r, i) => r.first === this.ranges[i]!.first && r.last === this.ranges[i]!.last));
  }
}
