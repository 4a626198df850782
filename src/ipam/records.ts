// What the IPAM keeps in the store, and where. The layout is etcd-friendly:
// small keys that change together are written in one compare-and-swap txn.
//
//   ipam/config                       the operator's configuration
//   ipam/slices/<slice>               a slice's header: state, timers, blocks, identifier runs
//   ipam/slice-links/<slice>          its links: subnets, addresses, keys/VNIs
//   ipam/blocks/<pool>/<addr>_<len>   one slice block (live or cooling down)
//   ipam/block-sets/<pool>            guard: written with every change under ipam/blocks/<pool>/
//   ipam/ids/<kind>/<start>           one run of identifiers (live or cooling down)
//   ipam/id-sets/<kind>               guard for ipam/ids/<kind>/, plus the next-fit cursor
//   ipam/pairs/<space>/<a>_<b>        one underlay address pair a link holds (live or cooling down)
//   ipam/pair-sets/<space>            guard for ipam/pairs/<space>/
//
// The guard keys are the protocol that makes allocation safe between
// processes: blocks of different sizes can overlap without sharing a key, so
// every writer of a pool's blocks also CAS-writes the pool's guard, and two
// writers deciding on the same pool can never both commit.

import { IncompatibleStateError } from '../errors.js';
import type { Entry } from '../store/index.js';
import { formatAddress, type Family, type Prefix } from './prefix.js';
import type { AddressClass, IdentifierKind, LinkAllocation, SliceSummary } from './types.js';

export const CONFIG_KEY = 'ipam/config';
export const SLICES_PREFIX = 'ipam/slices/';
const SLICE_LINKS_PREFIX = 'ipam/slice-links/';
const BLOCKS_PREFIX = 'ipam/blocks/';
const BLOCK_SETS_PREFIX = 'ipam/block-sets/';
const IDS_PREFIX = 'ipam/ids/';
const ID_SETS_PREFIX = 'ipam/id-sets/';
const PAIRS_PREFIX = 'ipam/pairs/';
export const PAIR_SETS_PREFIX = 'ipam/pair-sets/';
export const IPAM_PREFIX = 'ipam/';

// Slice names may hold any printable character; keys only printable ASCII without '/' ambiguity.
const sliceSegment = (slice: string): string => encodeURIComponent(slice);

export const keys = {
  slice: (slice: string): string => SLICES_PREFIX + sliceSegment(slice),
  sliceLinks: (slice: string): string => SLICE_LINKS_PREFIX + sliceSegment(slice),
  blocksOf: (pool: string): string => `${BLOCKS_PREFIX}${pool}/`,
  block: (pool: string, p: Prefix): string => `${BLOCKS_PREFIX}${pool}/${formatAddress(p.family, p.start)}_${p.length}`,
  blockSet: (pool: string): string => BLOCK_SETS_PREFIX + pool,
  idsOf: (kind: IdentifierKind): string => `${IDS_PREFIX}${kind}/`,
  // Zero-padded so runs list in numeric order.
  idRun: (kind: IdentifierKind, start: number): string => `${IDS_PREFIX}${kind}/${String(start).padStart(10, '0')}`,
  idSet: (kind: IdentifierKind): string => ID_SETS_PREFIX + kind,
  pairsOf: (space: string): string => `${PAIRS_PREFIX}${space}/`,
  // Canonical addresses in ascending order (pairKey), so one pair has one key.
  pair: (space: string, p: Pair): string => `${PAIRS_PREFIX}${space}/${p.a}_${p.b}`,
  pairSet: (space: string): string => PAIR_SETS_PREFIX + space,
};

/** An unordered pair of underlay addresses: canonical text, a before b (see request.ts). */
export interface Pair {
  readonly a: string;
  readonly b: string;
}

export type HoldState = 'live' | 'cooldown';

export interface BlockRecord {
  readonly pool: string;
  readonly prefix: string;
  readonly class: AddressClass;
  readonly family: Family;
  readonly slice: string;
  readonly state: HoldState;
  /** Cooldown end. */
  readonly until?: number;
}

export interface IdRunRecord {
  readonly kind: IdentifierKind;
  readonly start: number;
  readonly count: number;
  readonly slice: string;
  readonly state: HoldState;
  readonly until?: number;
}

export interface IdRunRef {
  readonly kind: IdentifierKind;
  readonly start: number;
  readonly count: number;
}

export interface PairRecord extends Pair {
  readonly space: string;
  readonly slice: string;
  /** The link of the slice that holds it. */
  readonly link: string;
  readonly state: HoldState;
  readonly until?: number;
}

export interface PairRef extends Pair {
  readonly space: string;
}

/** A slice's header: what `list` returns for it, plus the identifier runs and underlay pairs it holds. */
export interface SliceRecord extends SliceSummary {
  readonly idRuns: readonly IdRunRef[];
  /** Absent in headers written before pairs existed: none. */
  readonly pairs?: readonly PairRef[];
}

export interface SliceLinksRecord {
  readonly links: readonly LinkAllocation[];
}

export interface SetRecord {
  /** Number of changes so far; informative, the guard is the key's revision. */
  readonly changes: number;
  /** Next-fit cursor (identifier sets only). */
  readonly cursor?: number;
}

export const encode = (record: object): string => JSON.stringify(record);

/** Parses a stored record, checking the fields every reader relies on. */
export function decode<T>(entry: Entry, required: readonly (keyof T & string)[]): T {
  let value: unknown;
  try {
    value = JSON.parse(entry.value);
  } catch (err) {
    throw new IncompatibleStateError(`store record ${entry.key}: not JSON`, { cause: err });
  }
  if (typeof value !== 'object' || value === null) throw new IncompatibleStateError(`store record ${entry.key}: not an object`);
  for (const f of required) {
    if (!(f in value)) throw new IncompatibleStateError(`store record ${entry.key}: missing field ${f}`);
  }
  return value as T;
}

export const BLOCK_FIELDS = ['pool', 'prefix', 'class', 'family', 'slice', 'state'] as const;
export const RUN_FIELDS = ['kind', 'start', 'count', 'slice', 'state'] as const;
export const PAIR_FIELDS = ['space', 'a', 'b', 'slice', 'link', 'state'] as const;
export const SLICE_FIELDS = ['slice', 'state', 'allocatedAt', 'blocks', 'idRuns'] as const;
export const LINKS_FIELDS = ['links'] as const;
export const SET_FIELDS = ['changes'] as const;
