// A pool's blocks in memory: the buddy space plus the records behind it,
// valid for one revision of the pool's guard key. The IPAM keeps one per
// pool and rebuilds it from the store only when another writer has changed
// the pool, so a single controller pays O(prefix depth) per allocation, not
// O(blocks in the pool).

import { IncompatibleStateError } from '../errors.js';
import type { Entry } from '../store/index.js';
import { BuddySpace } from './buddy.js';
import type { Pool } from './config.js';
import { formatPrefix, overlaps, parsePrefix, type Prefix } from './prefix.js';
import { BLOCK_FIELDS, decode, SET_FIELDS, type BlockRecord, type SetRecord } from './records.js';
import { Holds, type Held } from './holds.js';

export interface HeldBlock extends Held {
  readonly record: BlockRecord;
  readonly prefix: Prefix;
}

export class PoolIndex {
  readonly pool: Pool;
  readonly space: BuddySpace;
  readonly holds = new Holds<HeldBlock>();
  /** modRevision of the guard key this index reflects (0 = never written). */
  revision: number;
  changes: number;

  private constructor(pool: Pool, revision: number, changes: number) {
    this.pool = pool;
    this.space = new BuddySpace(pool.prefix);
    this.revision = revision;
    this.changes = changes;
  }

  static build(pool: Pool, guard: Entry | undefined, blocks: readonly Entry[], now: number): PoolIndex {
    const set = guard ? decode<SetRecord>(guard, SET_FIELDS) : { changes: 0 };
    const idx = new PoolIndex(pool, guard?.modRevision ?? 0, set.changes);
    for (const e of blocks) {
      const record = decode<BlockRecord>(e, BLOCK_FIELDS);
      const prefix = parsePrefix(record.prefix, `store record ${e.key}`);
      if (!idx.space.reserve(prefix.start, prefix.length)) {
        const other = idx.holders(prefix)[0];
        throw new IncompatibleStateError(
          `pool "${pool.name}": store holds overlapping blocks ${record.prefix} (${e.key}) and ${other?.record.prefix ?? '?'} (${other?.key ?? '?'})`,
        );
      }
      idx.holds.add({ key: e.key, modRevision: e.modRevision, record, prefix });
    }
    idx.expire(now);
    return idx;
  }

  /** Frees the space of every cooldown that has ended by `now`. */
  expire(now: number): void {
    this.holds.expire(now, (h) => this.free(h));
  }

  /** Returns a block's space to the pool (its record is already gone from `holds`). */
  free(h: HeldBlock): void {
    this.space.release(h.prefix.start, h.prefix.length);
  }

  /** The guard record to write with the next change to this pool. */
  nextGuard(): SetRecord {
    return { changes: this.changes + 1 };
  }

  /** After a commit that wrote the guard and deleted the stale records. */
  committed(revision: number): void {
    this.holds.stale = [];
    this.revision = revision;
    this.changes++;
  }

  /** Records (live or cooling) that overlap `p`, for conflict messages. */
  holders(p: Prefix): HeldBlock[] {
    return [...this.holds.byKey.values()].filter((h) => overlaps(h.prefix, p));
  }

  describe(): string {
    return `pool "${this.pool.name}" (${formatPrefix(this.pool.prefix)})`;
  }
}
