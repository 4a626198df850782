// A binary buddy allocator over one prefix. Every block it hands out is an
// aligned power-of-two prefix, so two blocks overlap only if one contains the
// other, and free space is kept as one sorted list of free blocks per prefix
// length. Allocation is best fit (the smallest free block that is big enough,
// lowest address first), which keeps large blocks whole for large requests;
// freeing merges a block with its buddy whenever both halves are free. Every
// operation costs O(prefix depth), independent of how many blocks are out.
//
// This is the one in-memory structure behind both slice blocks in a pool and
// link subnets in a slice block. It holds no records, only space.

import { BITS, formatPrefix, lastOf, type Family, type Prefix } from './prefix.js';

// Block size by prefix length, computed once per family (a slice creates a
// space per block for its subnets, so construction is on the hot path).
const SIZES: Readonly<Record<Family, readonly bigint[]>> = {
  ipv4: Array.from({ length: 33 }, (_, len) => 1n << BigInt(32 - len)),
  ipv6: Array.from({ length: 129 }, (_, len) => 1n << BigInt(128 - len)),
};

export class BuddySpace {
  readonly family: Family;
  readonly base: bigint;
  readonly baseLength: number;
  readonly #sizes: readonly bigint[];
  /** Free blocks indexed by prefix length, each list sorted by address. */
  readonly #free: (bigint[] | undefined)[] = [];

  constructor(prefix: Prefix) {
    this.family = prefix.family;
    this.base = prefix.start;
    this.baseLength = prefix.length;
    this.#sizes = SIZES[prefix.family];
    this.#free[prefix.length] = [prefix.start];
  }

  /** Best fit: start of a free block of `length`, now taken; undefined when none fits. */
  allocate(length: number): bigint | undefined {
    this.#checkLength(length);
    for (let l = length; l >= this.baseLength; l--) {
      const bucket = this.#free[l];
      if (!bucket || bucket.length === 0) continue;
      const start = bucket.shift()!;
      // Split down: keep the lower half each time, free the upper half.
      for (let k = l + 1; k <= length; k++) this.#insert(k, start + this.#sizes[k]!);
      return start;
    }
    return undefined;
  }

  /** Takes exactly [start, length] if all of it is free; false otherwise. */
  reserve(start: bigint, length: number): boolean {
    this.#checkBlock(start, length);
    for (let l = length; l >= this.baseLength; l--) {
      const holder = this.#align(start, l);
      if (!this.#remove(l, holder)) continue;
      // Split the free holder down to the wanted block, freeing the halves off the path.
      for (let k = l + 1; k <= length; k++) this.#insert(k, this.#align(start, k) ^ this.#sizes[k]!);
      return true;
    }
    return false;
  }

  /** Returns a taken block; merges with free buddies. Freeing free space is a bug and throws. */
  release(start: bigint, length: number): void {
    this.#checkBlock(start, length);
    if (this.overlapsFree(start, length)) {
      throw new Error(`buddy ${formatPrefix(this.#prefix(this.base, this.baseLength))}: release of ${formatPrefix(this.#prefix(start, length))}, which is (partly) free already`);
    }
    let s = start;
    let l = length;
    while (l > this.baseLength && this.#remove(l, s ^ this.#sizes[l]!)) {
      s = this.#align(s, l - 1);
      l--;
    }
    this.#insert(l, s);
  }

  /** True when any address of [start, length] is free. */
  overlapsFree(start: bigint, length: number): boolean {
    // A free ancestor (or the block itself) ...
    for (let l = length; l >= this.baseLength; l--) if (this.#has(l, this.#align(start, l))) return true;
    // ... or a free descendant inside it.
    const last = start + this.#sizes[length]! - 1n;
    for (let l = length + 1; l < this.#free.length; l++) {
      const bucket = this.#free[l];
      if (!bucket) continue;
      const i = lowerBound(bucket, start);
      if (i < bucket.length && bucket[i]! <= last) return true;
    }
    return false;
  }

  /** Prefix length of the largest free block, or undefined when full. */
  largestFree(): number | undefined {
    for (let l = this.baseLength; l <= BITS[this.family]; l++) if (this.#free[l]?.length) return l;
    return undefined;
  }

  freeAddresses(): bigint {
    let n = 0n;
    this.#free.forEach((bucket, l) => (n += this.#sizes[l]! * BigInt(bucket?.length ?? 0)));
    return n;
  }

  /** All free blocks in address order (for usage reports and tests). */
  freeBlocks(): Prefix[] {
    const out: Prefix[] = [];
    this.#free.forEach((bucket, l) => bucket?.forEach((s) => out.push(this.#prefix(s, l))));
    return out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  }

  #align(v: bigint, length: number): bigint {
    return v - ((v - this.base) % this.#sizes[length]!);
  }

  #prefix(start: bigint, length: number): Prefix {
    return { family: this.family, start, length };
  }

  #checkLength(length: number): void {
    if (!Number.isInteger(length) || length < this.baseLength || length > BITS[this.family]) {
      throw new RangeError(`buddy: length /${length} outside /${this.baseLength}../${BITS[this.family]}`);
    }
  }

  #checkBlock(start: bigint, length: number): void {
    this.#checkLength(length);
    const p = this.#prefix(start, length);
    if (this.#align(start, length) !== start || start < this.base || lastOf(p) > this.base + this.#sizes[this.baseLength]! - 1n) {
      throw new RangeError(`buddy: ${formatPrefix(p)} is not an aligned block of ${formatPrefix(this.#prefix(this.base, this.baseLength))}`);
    }
  }

  #has(length: number, start: bigint): boolean {
    const bucket = this.#free[length];
    if (!bucket) return false;
    const i = lowerBound(bucket, start);
    return i < bucket.length && bucket[i] === start;
  }

  #insert(length: number, start: bigint): void {
    const bucket = (this.#free[length] ??= []);
    // Splits append buddies above everything else in the bucket more often than not.
    if (bucket.length === 0 || bucket[bucket.length - 1]! < start) bucket.push(start);
    else bucket.splice(lowerBound(bucket, start), 0, start);
  }

  #remove(length: number, start: bigint): boolean {
    const bucket = this.#free[length];
    if (!bucket) return false;
    const i = lowerBound(bucket, start);
    if (i >= bucket.length || bucket[i] !== start) return false;
    bucket.splice(i, 1);
    return true;
  }
}

/** Index of the first element ≥ v in a sorted array. */
function lowerBound(a: readonly bigint[], v: bigint): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
