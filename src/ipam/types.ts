// The IPAM's public shapes: `…Spec` is what callers send (validated, with
// defaults filled in), the other records are what they get back. Addresses
// and prefixes are strings in the usual notation; times are milliseconds
// since the epoch on the IPAM's clock.

import type { Family } from './prefix.js';

export type { Family } from './prefix.js';

/**
 * public: announced upstream by BGP egress; local: routed across the testbed;
 * private: used only inside one experiment.
 */
export type AddressClass = 'public' | 'local' | 'private';
export const ADDRESS_CLASSES: readonly AddressClass[] = ['public', 'local', 'private'];

/** GRE key (32-bit), VXLAN network identifier (24-bit), link group id (32-bit, one per slice). */
export type IdentifierKind = 'greKey' | 'vni' | 'groupId';
export const IDENTIFIER_KINDS: readonly IdentifierKind[] = ['greKey', 'vni', 'groupId'];

// ---- configuration (operator) ----

export interface PoolSpec {
  /** Lower-case letters, digits and dashes, e.g. "lab-v4". */
  readonly name: string;
  /** e.g. "198.51.100.0/24"; host bits must be zero. */
  readonly prefix: string;
  readonly class: AddressClass;
  /** Prefix length of the block a small slice gets (default /28 for IPv4, /56 for IPv6). */
  readonly defaultBlockLength?: number;
  /** Prefix length of the largest block one slice may hold (default /24 for IPv4, /48 for IPv6). */
  readonly largestBlockLength?: number;
}

export interface IdRangeSpec {
  readonly first: number;
  readonly last: number;
}

export interface IpamConfigSpec {
  /** In order of preference: a slice's block comes from the first pool of its class and family with room. */
  readonly pools: readonly PoolSpec[];
  readonly identifiers?: Partial<Record<IdentifierKind, readonly IdRangeSpec[]>>;
  /** How long released space and identifiers rest before reuse. Default 10 minutes. */
  readonly cooldownMs?: number;
  /** How long an allocation may stay unprovisioned before the sweeper releases it. Default 10 minutes. */
  readonly allocationTtlMs?: number;
}

// ---- allocation request (controller, once per slice at Allocate) ----

export interface SliceSpec {
  /** The slice's identifier (e.g. its URN); 1..256 printable characters. */
  readonly slice: string;
  /**
   * Blocks to place explicitly, or to size or source differently. A block is
   * allocated anyway for every class and family the links use.
   */
  readonly blocks?: readonly BlockSpec[];
  readonly links: readonly LinkSpec[];
  /** A link group id for bulk teardown of the slice's links. Default true. */
  readonly groupId?: boolean;
}

export interface BlockSpec {
  readonly class: AddressClass;
  readonly family: Family;
  /** Take the block from this pool only. */
  readonly pool?: string;
  /** This exact block, e.g. "192.0.2.64/27". */
  readonly prefix?: string;
  /** A block of this size instead of one sized to the links. */
  readonly prefixLength?: number;
}

export interface LinkSpec {
  /** Unique within the slice. */
  readonly name: string;
  /** Default: 'p2p' for exactly two interfaces, 'lan' otherwise. */
  readonly shape?: 'p2p' | 'lan';
  readonly interfaces: readonly InterfaceSpec[];
  /** Give the link an IPv4 subnet (and every interface an IPv4 address). */
  readonly ipv4?: SubnetSpec;
  readonly ipv6?: SubnetSpec;
  /** The wire identifier the link's encapsulation needs, if any. */
  readonly identifier?: 'greKey' | 'vni';
  /** Underlay address pairs the link holds alone (see UnderlayPairsSpec). */
  readonly pairs?: UnderlayPairsSpec;
  /**
   * Instead of `identifier` and `pairs`: the ways the link may be carried,
   * in order of preference. The first whose pairs are all free is taken
   * (LinkAllocation.choice says which); when none is, the refusal gives each
   * one's reason.
   */
  readonly choices?: readonly LinkChoice[];
}

/** One way to carry a link: the identifier it needs and/or the underlay pairs it holds. */
export interface LinkChoice {
  readonly identifier?: 'greKey' | 'vni';
  readonly pairs?: UnderlayPairsSpec;
}

/**
 * For an encapsulation whose wire format has no identifier of its own
 * (EtherIP, RFC 3378): the two underlay addresses are what tells its links
 * apart, so within `space` one unordered pair of addresses carries at most
 * one link, of all slices. Pairs cool down on release like identifiers.
 */
export interface UnderlayPairsSpec {
  /** Lower-case letters, digits and dashes, e.g. "etherip"; pairs of different spaces never conflict. */
  readonly space: string;
  /** Each an unordered pair of addresses of one family (a LAN holds one per pair of members). */
  readonly pairs: readonly (readonly [string, string])[];
}

export interface SubnetSpec {
  /** Which of the slice's blocks the subnet comes from. */
  readonly class: AddressClass;
  /**
   * Point-to-point: 31 (default, RFC 3021) or 30 for IPv4, 127 (default,
   * RFC 6164) or 64 for IPv6. LAN: default sized to members plus headroom
   * (IPv4) or /64 (IPv6); any length that holds the members.
   */
  readonly prefixLength?: number;
  /** LAN only: addresses to keep free beyond the members. Default max(2, ⌈members/2⌉). */
  readonly headroom?: number;
}

export interface InterfaceSpec {
  /** Unique within the link, e.g. "r1:eth0". */
  readonly name: string;
  /** An explicit address (no prefix length); omitted = allocated. */
  readonly ipv4?: string;
  readonly ipv6?: string;
}

// ---- results ----

export type SliceState = 'allocated' | 'provisioned';

export interface SliceAllocation {
  readonly slice: string;
  readonly state: SliceState;
  readonly allocatedAt: number;
  /** While allocated: when the sweeper releases it unless it is provisioned first. */
  readonly expiresAt?: number;
  readonly provisionedAt?: number;
  readonly groupId?: number;
  readonly blocks: readonly BlockAllocation[];
  readonly links: readonly LinkAllocation[];
}

export type SliceSummary = Omit<SliceAllocation, 'links'>;

export interface BlockAllocation {
  readonly class: AddressClass;
  readonly family: Family;
  readonly pool: string;
  readonly prefix: string;
}

export interface LinkAllocation {
  readonly name: string;
  readonly shape: 'p2p' | 'lan';
  readonly ipv4?: SubnetAllocation;
  readonly ipv6?: SubnetAllocation;
  readonly greKey?: number;
  readonly vni?: number;
  /** The underlay pairs the link holds, addresses in canonical form, each pair in ascending order. */
  readonly pairs?: UnderlayPairsSpec;
  /** With LinkSpec.choices: the index of the choice taken. */
  readonly choice?: number;
  readonly interfaces: readonly InterfaceAllocation[];
}

export interface SubnetAllocation {
  readonly class: AddressClass;
  readonly prefix: string;
}

export interface InterfaceAllocation {
  readonly name: string;
  /** Address with the subnet's length, ready for the kernel, e.g. "192.0.2.1/31". */
  readonly ipv4?: string;
  readonly ipv6?: string;
}

export interface ReleaseResult {
  readonly slice: string;
  /** False when there was nothing to release (already released or never allocated). */
  readonly released: boolean;
  /** When the slice's space and identifiers become allocatable again. */
  readonly cooldownUntil?: number;
}

export interface SweepResult {
  /** Slices released because they were not provisioned in time. */
  readonly expired: readonly string[];
  /** Cooldown records that had run out and were removed. */
  readonly collected: number;
}

/** One identifier kind's ranges: how many there are, how many are neither live nor cooling. */
export interface IdentifierUsage {
  readonly kind: IdentifierKind;
  readonly size: number;
  readonly free: number;
}

export interface PoolUsage {
  readonly pool: string;
  readonly prefix: string;
  readonly class: AddressClass;
  readonly family: Family;
  readonly liveBlocks: number;
  readonly coolingBlocks: number;
  readonly freeAddresses: bigint;
  /** Prefix length of the largest block that could be allocated now; undefined when full. */
  readonly largestFreeLength?: number;
}
