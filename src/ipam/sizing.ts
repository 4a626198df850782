// How big things are: a link's subnet from its shape and members, and a
// slice's block from its links' subnets. Pure functions.

import { InvalidSpecError } from '../errors.js';
import type { Pool } from './config.js';
import { usableCount } from './host-rules.js';
import { BITS, lengthFor, sizeOf, type Family } from './prefix.js';
import type { SubnetSpec } from './types.js';

export type Shape = 'p2p' | 'lan';

/** Allowed point-to-point lengths, the default first. */
const P2P_LENGTHS: Readonly<Record<Family, readonly number[]>> = { ipv4: [31, 30], ipv6: [127, 64] };

/** LAN default headroom: room for half as many members again, at least two. */
const defaultHeadroom = (members: number): number => Math.max(2, Math.ceil(members / 2));

/** Blocks get a quarter more than their subnets need, rounded up to a power of two. */
const BLOCK_GROWTH_NUM = 5n;
const BLOCK_GROWTH_DEN = 4n;

export function subnetLength(family: Family, shape: Shape, members: number, spec: SubnetSpec, field: string): number {
  const bits = BITS[family];
  const asked = spec.prefixLength;
  if (asked !== undefined && (!Number.isInteger(asked) || asked < 0 || asked > bits)) {
    throw new InvalidSpecError(`${field}.prefixLength: /${asked} is not a valid ${family} prefix length`, { field: `${field}.prefixLength` });
  }
  if (shape === 'p2p') {
    if (spec.headroom !== undefined) throw new InvalidSpecError(`${field}.headroom: only LAN links take headroom`, { field: `${field}.headroom` });
    const allowed = P2P_LENGTHS[family];
    if (asked === undefined) return allowed[0]!;
    if (!allowed.includes(asked)) {
      throw new InvalidSpecError(`${field}.prefixLength: a point-to-point ${family} link takes /${allowed.join(' or /')}, not /${asked}`, {
        field: `${field}.prefixLength`,
      });
    }
    return asked;
  }
  if (asked !== undefined) {
    // /31 and /127 are the point-to-point forms; a LAN needs a conventional subnet.
    if (asked >= bits - 1 || usableCount(family, asked) < BigInt(members)) {
      throw new InvalidSpecError(`${field}.prefixLength: a /${asked} cannot hold a LAN of ${members} members`, { field: `${field}.prefixLength` });
    }
    return asked;
  }
  if (family === 'ipv6') return 64;
  const headroom = spec.headroom ?? defaultHeadroom(members);
  if (!Number.isInteger(headroom) || headroom < 0 || headroom > 2 ** 24) {
    throw new InvalidSpecError(`${field}.headroom: ${JSON.stringify(headroom)} must be a whole number ≥ 0`, { field: `${field}.headroom` });
  }
  // Members and headroom, plus the network and broadcast addresses.
  return Math.min(30, lengthFor('ipv4', BigInt(members + headroom + 2)));
}

/** Total addresses a set of aligned subnets occupies; a block of the next power of two holds them all (buddy packing). */
const addressesFor = (family: Family, lengths: readonly number[]): bigint =>
  lengths.reduce((sum, l) => sum + sizeOf(family, l), 0n);

export interface BlockSizing {
  /** The smallest block that holds the subnets (a prefix length). */
  readonly needLength: number;
  /** Lengths to try in this pool, preferred first; empty when the pool's limit is too small. */
  readonly candidates: readonly number[];
}

/**
 * Block lengths to try in a pool: the larger of the pool's default and the
 * need plus growth room first, then smaller ones down to the exact need, so
 * a nearly full pool still serves a request that fits. An explicit size is
 * tried alone.
 */
export function blockSizing(pool: Pool, subnetLengths: readonly number[], explicitLength?: number): BlockSizing {
  const family = pool.family;
  const total = addressesFor(family, subnetLengths);
  const needLength = subnetLengths.length === 0 ? BITS[family] - 1 : lengthFor(family, total);
  const fits = (l: number): boolean => l >= pool.largestBlockLength && l <= needLength;
  if (explicitLength !== undefined) return { needLength, candidates: fits(explicitLength) ? [explicitLength] : [] };
  if (subnetLengths.length === 0) return { needLength, candidates: [pool.defaultBlockLength] };
  const wantLength = lengthFor(family, (total * BLOCK_GROWTH_NUM + BLOCK_GROWTH_DEN - 1n) / BLOCK_GROWTH_DEN);
  const first = Math.max(Math.min(wantLength, pool.defaultBlockLength), pool.largestBlockLength);
  const candidates: number[] = [];
  for (let l = first; l <= needLength; l++) if (fits(l)) candidates.push(l);
  return { needLength, candidates };
}
