// Identifier allocation (GRE keys, VNIs, link group ids) over configured
// ranges. Taken identifiers are kept as sorted runs, so a slice with 1,000
// GRE keys usually costs one run, not 1,000 entries. Allocation is next-fit
// from a cursor that only moves forward and wraps at the end: an identifier
// that was just released is the last one to be handed out again, which adds
// to the cooldown's protection against stale tunnels elsewhere in the testbed.

export interface IdRange {
  readonly first: number;
  readonly last: number;
}

export interface Run {
  readonly start: number;
  readonly count: number;
}

export class IdSpace {
  readonly ranges: readonly IdRange[];
  /** Taken runs, sorted by start, never overlapping. */
  readonly #taken: Run[] = [];

  constructor(ranges: readonly IdRange[]) {
    this.ranges = [...ranges].sort((a, b) => a.first - b.first);
  }

  /** Marks an exact run taken (rebuilding from records); false if any of it is taken already. */
  take(run: Run): boolean {
    const i = this.#firstEndingAtOrAfter(run.start);
    if (i < this.#taken.length && this.#taken[i]!.start <= run.start + run.count - 1) return false;
    this.#taken.splice(i, 0, run);
    return true;
  }

  /**
   * `count` identifiers starting the search at `cursor` and wrapping once;
   * possibly several runs when free space is fragmented. Undefined (and
   * nothing taken) when fewer than `count` are free.
   */
  allocate(count: number, cursor: number): { runs: Run[]; cursor: number } | undefined {
    const runs: Run[] = [];
    let need = count;
    const lo = this.ranges[0]?.first ?? 0;
    const hi = this.ranges[this.ranges.length - 1]?.last ?? -1;
    const from = Math.min(Math.max(cursor, lo), hi + 1);
    for (const [a, b] of this.#wrapped(from, lo, hi)) {
      const n = Math.min(need, b - a + 1);
      runs.push({ start: a, count: n });
      need -= n;
      if (need === 0) break;
    }
    if (need > 0) return undefined;
    for (const r of runs) this.take(r);
    const last = runs[runs.length - 1]!;
    return { runs, cursor: last.start + last.count };
  }

  /** Gives back an exact run that was taken; anything else is a bug and throws. */
  release(run: Run): void {
    const i = this.#firstEndingAtOrAfter(run.start);
    const t = this.#taken[i];
    if (!t || t.start !== run.start || t.count !== run.count) {
      throw new Error(`id space: release of ${run.start}+${run.count}, which is not a taken run`);
    }
    this.#taken.splice(i, 1);
  }

  /** How many identifiers in the ranges are free. */
  free(): number {
    let n = 0;
    for (const [a, b] of this.#gaps(this.ranges[0]?.first ?? 0, this.ranges[this.ranges.length - 1]?.last ?? -1)) n += b - a + 1;
    return n;
  }

  // Free intervals from `from` to the end, then from the start up to `from`.
  *#wrapped(from: number, lo: number, hi: number): Generator<[number, number]> {
    yield* this.#gaps(from, hi);
    yield* this.#gaps(lo, from - 1);
  }

  // Free intervals [a, b] within the ranges and within [lo, hi], ascending.
  *#gaps(lo: number, hi: number): Generator<[number, number]> {
    for (const r of this.ranges) {
      if (r.last < lo || r.first > hi) continue;
      let pos = Math.max(r.first, lo);
      const end = Math.min(r.last, hi);
      let i = this.#firstEndingAtOrAfter(pos);
      while (pos <= end) {
        const t = this.#taken[i];
        if (!t || t.start > end) {
          yield [pos, end];
          break;
        }
        if (t.start > pos) yield [pos, t.start - 1];
        pos = Math.max(pos, t.start + t.count);
        i++;
      }
    }
  }

  // Runs are disjoint and sorted, so their ends are sorted too.
  #firstEndingAtOrAfter(v: number): number {
    let lo = 0;
    let hi = this.#taken.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const t = this.#taken[mid]!;
      if (t.start + t.count - 1 < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
