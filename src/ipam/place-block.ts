// Choosing a slice's block for one class and family: an exact prefix, a
// block around the slice's explicit addresses, or the best-fitting free
// block of the right size from the first pool that has one.

import { AlreadyExistsError, IncompatibleStateError, InvalidSpecError, PoolExhaustedError, type VispError } from '../errors.js';
import type { PoolIndex } from './pool-index.js';
import { alignDown, BITS, commonLength, containsAddress, containsPrefix, formatAddress, formatPrefix, type Prefix } from './prefix.js';
import type { BlockRequest } from './request.js';
import { blockSizing } from './sizing.js';
import { coolingText } from './slice-view.js';

export interface BlockNeeds {
  /** Prefix lengths of the subnets this block must hold. */
  readonly subnetLengths: readonly number[];
  /** Explicit addresses that must fall inside it. */
  readonly pins: readonly bigint[];
}

export interface PlacedBlock {
  readonly index: PoolIndex;
  readonly prefix: Prefix;
}

const what = (r: BlockRequest): string => `${r.class} ${r.family} block`;

/** Takes the block from the index's space and returns it, or throws saying why not (`now`: for how long space is still cooling down). */
export function placeBlock(req: BlockRequest, needs: BlockNeeds, pools: readonly PoolIndex[], now: number): PlacedBlock {
  if (pools.length === 0) {
    const which = req.pool ? `pool "${req.pool}" is not a ${req.class} ${req.family} pool` : `no ${req.class} ${req.family} pool is configured`;
    throw new InvalidSpecError(`${req.field}: cannot allocate a ${what(req)}: ${which}`, { field: req.field });
  }
  if (req.prefix) return placeExact(req, req.prefix, needs, pools, now);
  if (needs.pins.length > 0) return placeAroundPins(req, needs, pools, now);
  return placeBestFit(req, needs, pools);
}

function placeExact(req: BlockRequest, prefix: Prefix, needs: BlockNeeds, pools: readonly PoolIndex[], now: number): PlacedBlock {
  const text = formatPrefix(prefix);
  const field = `${req.field}.prefix`;
  const index = pools.find((p) => containsPrefix(p.pool.prefix, prefix));
  if (!index) throw new InvalidSpecError(`${field}: ${text} is not inside any ${req.class} ${req.family} pool${req.pool ? ` named "${req.pool}"` : ''}`, { field });
  const sizing = blockSizing(index.pool, needs.subnetLengths, prefix.length);
  if (prefix.length < index.pool.largestBlockLength) {
    throw new InvalidSpecError(`${field}: ${text} is larger than ${index.describe()} allows one slice (/${index.pool.largestBlockLength})`, { field });
  }
  if (prefix.length > sizing.needLength) {
    throw new InvalidSpecError(`${field}: ${text} is too small: the slice's ${req.class} ${req.family} subnets need a /${sizing.needLength}`, { field });
  }
  const outside = needs.pins.find((v) => !containsAddress(prefix, { family: prefix.family, value: v }));
  if (outside !== undefined) {
    throw new InvalidSpecError(`${field}: explicit address ${formatAddress(prefix.family, outside)} is outside the slice's block ${text}`, { field });
  }
  if (!index.space.reserve(prefix.start, prefix.length)) throw takenError(index, prefix, field, now);
  return { index, prefix };
}

function placeAroundPins(req: BlockRequest, needs: BlockNeeds, pools: readonly PoolIndex[], now: number): PlacedBlock {
  const family = req.family;
  const first = needs.pins[0]!;
  const firstText = formatAddress(family, first);
  const index = pools.find((p) => containsAddress(p.pool.prefix, { family, value: first }));
  if (!index) {
    throw new InvalidSpecError(`${req.field}: explicit address ${firstText} is not inside any ${req.class} ${family} pool${req.pool ? ` named "${req.pool}"` : ''}`, {
      field: req.field,
    });
  }
  // The block must contain every pin: no longer than the pins' common prefix.
  const span = needs.pins.reduce((len, v) => Math.min(len, commonLength(family, first, v)), BITS[family]);
  const sizing = blockSizing(index.pool, needs.subnetLengths, req.prefixLength);
  if (sizing.candidates.length === 0) throw tooLarge(req, index, sizing.needLength);
  if (req.prefixLength !== undefined && span < req.prefixLength) {
    const far = needs.pins.find((v) => commonLength(family, first, v) === span)!;
    const field = `${req.field}.prefixLength`;
    throw new InvalidSpecError(`${field}: explicit addresses ${firstText} and ${formatAddress(family, far)} do not fit in one /${req.prefixLength}`, { field });
  }
  // Sized as usual, but widened where the pins need it.
  const lengths = [...new Set(sizing.candidates.map((l) => Math.min(l, span)))];
  const usable = lengths.filter((l) => l >= index.pool.largestBlockLength);
  if (usable.length === 0) {
    const far = needs.pins.find((v) => commonLength(family, first, v) === span)!;
    throw new InvalidSpecError(
      `${req.field}: explicit addresses ${firstText} and ${formatAddress(family, far)} do not fit in one block of ${index.describe()}: ` +
        `they span a /${span}, the largest block is a /${index.pool.largestBlockLength}`,
      { field: req.field },
    );
  }
  for (const l of usable) {
    const prefix = { family, start: alignDown(family, first, l), length: l };
    if (index.space.reserve(prefix.start, prefix.length)) return { index, prefix };
  }
  const smallest = usable[usable.length - 1]!;
  throw takenError(index, { family, start: alignDown(family, first, smallest), length: smallest }, req.field, now);
}

function placeBestFit(req: BlockRequest, needs: BlockNeeds, pools: readonly PoolIndex[]): PlacedBlock {
  const reasons: string[] = [];
  let tooLargeEverywhere = true;
  let needLength = 0;
  for (const index of pools) {
    const sizing = blockSizing(index.pool, needs.subnetLengths, req.prefixLength);
    needLength = sizing.needLength;
    if (sizing.candidates.length === 0) {
      reasons.push(`${index.describe()} allows at most a /${index.pool.largestBlockLength}`);
      continue;
    }
    tooLargeEverywhere = false;
    for (const l of sizing.candidates) {
      const start = index.space.allocate(l);
      if (start !== undefined) return { index, prefix: { family: req.family, start, length: l } };
    }
    const largest = index.space.largestFree();
    const asked = sizing.candidates[sizing.candidates.length - 1]!;
    reasons.push(`pool "${index.pool.name}": exhausted: asked for a /${asked} block, ${largest === undefined ? 'nothing is free' : `largest free is /${largest}`}`);
  }
  const asked = req.prefixLength !== undefined ? `a /${req.prefixLength}` : `at least a /${needLength}`;
  if (tooLargeEverywhere) {
    const field = req.prefixLength !== undefined ? `${req.field}.prefixLength` : req.field;
    throw new InvalidSpecError(`${field}: the ${what(req)} needs ${asked}, larger than any pool allows: ${reasons.join('; ')}`, { field });
  }
  throw new PoolExhaustedError(reasons.length === 1 ? reasons[0]! : `no ${req.class} ${req.family} pool has room for ${asked} block: ${reasons.join('; ')}`, {
    field: req.field,
  });
}

function tooLarge(req: BlockRequest, index: PoolIndex, needLength: number): InvalidSpecError {
  const field = req.prefixLength !== undefined ? `${req.field}.prefixLength` : req.field;
  const asked = req.prefixLength !== undefined ? `a /${req.prefixLength}` : `at least a /${needLength}`;
  return new InvalidSpecError(`${field}: the ${what(req)} needs ${asked}; ${index.describe()} allows at most a /${index.pool.largestBlockLength}`, { field });
}

/**
 * Space someone else holds: ALREADY_EXISTS when live; FAILED_PRECONDITION
 * while it cools down, saying when it frees (in the message and as freesAt):
 * a refusal that lasts minutes, not one to retry at once (UNAVAILABLE).
 */
function takenError(index: PoolIndex, p: Prefix, field: string, now: number): VispError {
  const holders = index.holders(p);
  const live = holders.find((h) => h.record.state === 'live');
  const text = formatPrefix(p);
  // Never name the holder: it may be another tenant's slice (docs/security.md).
  if (live) return new AlreadyExistsError(`${field}: ${text} overlaps ${live.record.prefix} in ${index.describe()}, which another slice holds`, { field });
  const cooling = holders.filter((h) => h.record.state === 'cooldown');
  if (cooling.length) {
    // Every overlapping block must have cooled down: the last of them decides.
    const last = cooling.reduce((a, b) => ((b.record.until ?? 0) > (a.record.until ?? 0) ? b : a));
    const freesAt = last.record.until ?? now;
    return new IncompatibleStateError(`${field}: ${text} overlaps ${last.record.prefix}, ${coolingText(freesAt, now)} after a slice released it`, {
      field, freesAt, retryAfterMs: freesAt - now,
    });
  }
  // Only possible if the space is taken by this very request.
  return new InvalidSpecError(`${field}: ${text} overlaps another block of this request`, { field });
}
