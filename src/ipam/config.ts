// Operator configuration: pools, identifier ranges and the two timers. This
// file only validates and fills in defaults (pure); storing it, and refusing
// changes that would strand live allocations, is the IPAM's job.

import { InvalidSpecError } from '../errors.js';
import type { IdRange } from './id-space.js';
import { BITS, formatPrefix, overlaps, parsePrefix, type Family, type Prefix } from './prefix.js';
import {
  ADDRESS_CLASSES,
  IDENTIFIER_KINDS,
  type AddressClass,
  type IdentifierKind,
  type IpamConfigSpec,
  type PoolSpec,
} from './types.js';

export interface Pool {
  readonly name: string;
  readonly prefix: Prefix;
  readonly class: AddressClass;
  readonly family: Family;
  readonly defaultBlockLength: number;
  readonly largestBlockLength: number;
}

export interface IpamConfig {
  readonly pools: readonly Pool[];
  readonly identifiers: Readonly<Record<IdentifierKind, readonly IdRange[]>>;
  readonly cooldownMs: number;
  readonly allocationTtlMs: number;
}

export const DEFAULT_COOLDOWN_MS = 10 * 60_000;
export const DEFAULT_ALLOCATION_TTL_MS = 10 * 60_000;

/**
 * Every value an identifier may take, configured or not. The IPAM hands out only
 * values the agent accepts, so a configured range outside this is refused here
 * rather than by every agent later: a GRE key is a u32 (0 allowed, as the kernel
 * allows it); VNI 0 is reserved by VXLAN tooling and refused by our VXLAN kind;
 * link group 0 is every link's default group, so a slice given it would share
 * its group with every other link on the node.
 */
export const ID_SPACE: Readonly<Record<IdentifierKind, IdRange>> = {
  greKey: { first: 0, last: 2 ** 32 - 1 },
  vni: { first: 1, last: 2 ** 24 - 1 },
  groupId: { first: 1, last: 2 ** 32 - 1 },
};

export const DEFAULT_ID_RANGES: Readonly<Record<IdentifierKind, readonly IdRange[]>> = {
  // 0 means "no key" to much GRE tooling, and VNI 0 is often reserved.
  greKey: [{ first: 1, last: 2 ** 32 - 1 }],
  vni: [{ first: 1, last: 2 ** 24 - 1 }],
  // Group 0 is every link's default group; small numbers stay free for the
  // operator's own /etc/iproute2/group entries.
  groupId: [{ first: 4096, last: 2 ** 32 - 1 }],
};

const DEFAULT_BLOCK: Readonly<Record<Family, { default: number; largest: number }>> = {
  ipv4: { default: 28, largest: 24 },
  ipv6: { default: 56, largest: 48 },
};

const POOL_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_TIMER_MS = 7 * 24 * 3600_000;

export function parseConfig(spec: IpamConfigSpec): IpamConfig {
  if (typeof spec !== 'object' || spec === null) throw new InvalidSpecError('ipam config: expected an object', { field: 'config' });
  if (!Array.isArray(spec.pools)) throw new InvalidSpecError('pools: expected a list', { field: 'pools' });
  const pools = spec.pools.map((p, i) => parsePool(p, `pools[${i}]`));
  checkPoolsDisjoint(pools);
  return {
    pools,
    identifiers: parseIdentifiers(spec.identifiers ?? {}),
    cooldownMs: parseTimer(spec.cooldownMs, DEFAULT_COOLDOWN_MS, 'cooldownMs'),
    allocationTtlMs: parseTimer(spec.allocationTtlMs, DEFAULT_ALLOCATION_TTL_MS, 'allocationTtlMs'),
  };
}

/** The fully resolved spec, as stored (parseConfig of it gives the same config). */
export function configToSpec(c: IpamConfig): IpamConfigSpec {
  return {
    pools: c.pools.map((p) => ({
      name: p.name,
      prefix: formatPrefix(p.prefix),
      class: p.class,
      defaultBlockLength: p.defaultBlockLength,
      largestBlockLength: p.largestBlockLength,
    })),
    identifiers: c.identifiers,
    cooldownMs: c.cooldownMs,
    allocationTtlMs: c.allocationTtlMs,
  };
}

function parsePool(p: PoolSpec, field: string): Pool {
  if (typeof p !== 'object' || p === null) throw new InvalidSpecError(`${field}: expected an object`, { field });
  if (typeof p.name !== 'string' || !POOL_NAME.test(p.name)) {
    throw new InvalidSpecError(`${field}.name: ${JSON.stringify(p.name)} is not a pool name (lower-case letters, digits, dashes; at most 63)`, {
      field: `${field}.name`,
    });
  }
  const what = `pool "${p.name}"`;
  const prefix = parsePrefix(p.prefix, `${what} prefix`);
  if (!ADDRESS_CLASSES.includes(p.class)) {
    throw new InvalidSpecError(`${what}: class ${JSON.stringify(p.class)} is not one of ${ADDRESS_CLASSES.join(', ')}`, { field: `${field}.class` });
  }
  const bits = BITS[prefix.family];
  const def = DEFAULT_BLOCK[prefix.family];
  // Unset limits follow the set one, so a pool that only names a default stays consistent.
  const largest = p.largestBlockLength ?? Math.min(p.defaultBlockLength ?? bits, Math.max(prefix.length, def.largest));
  const dflt = p.defaultBlockLength ?? Math.max(largest, def.default);
  const lengthOk = (n: number): boolean => Number.isInteger(n) && n >= prefix.length && n <= bits - 1;
  if (!lengthOk(largest)) {
    throw new InvalidSpecError(`${what}: largestBlockLength /${largest} must be between the pool's /${prefix.length} and /${bits - 1}`, {
      field: `${field}.largestBlockLength`,
    });
  }
  if (!lengthOk(dflt) || dflt < largest) {
    throw new InvalidSpecError(`${what}: defaultBlockLength /${dflt} must be between largestBlockLength /${largest} and /${bits - 1}`, {
      field: `${field}.defaultBlockLength`,
    });
  }
  return { name: p.name, prefix, class: p.class, family: prefix.family, defaultBlockLength: dflt, largestBlockLength: largest };
}

function checkPoolsDisjoint(pools: readonly Pool[]): void {
  for (let i = 0; i < pools.length; i++) {
    for (let j = 0; j < i; j++) {
      const [a, b] = [pools[j]!, pools[i]!];
      if (a.name === b.name) throw new InvalidSpecError(`pool "${b.name}": defined twice`, { field: `pools[${i}].name` });
      if (overlaps(a.prefix, b.prefix)) {
        throw new InvalidSpecError(`pool "${b.name}": ${formatPrefix(b.prefix)} overlaps pool "${a.name}" ${formatPrefix(a.prefix)}`, {
          field: `pools[${i}].prefix`,
        });
      }
    }
  }
}

function parseIdentifiers(spec: Partial<Record<IdentifierKind, readonly IdRange[]>>): Record<IdentifierKind, readonly IdRange[]> {
  for (const k of Object.keys(spec)) {
    if (!IDENTIFIER_KINDS.includes(k as IdentifierKind)) {
      throw new InvalidSpecError(`identifiers: unknown kind ${JSON.stringify(k)} (have ${IDENTIFIER_KINDS.join(', ')})`, { field: `identifiers.${k}` });
    }
  }
  const out = {} as Record<IdentifierKind, readonly IdRange[]>;
  for (const kind of IDENTIFIER_KINDS) out[kind] = parseRanges(kind, spec[kind] ?? DEFAULT_ID_RANGES[kind]);
  return out;
}

function parseRanges(kind: IdentifierKind, ranges: readonly IdRange[]): IdRange[] {
  const field = `identifiers.${kind}`;
  if (!Array.isArray(ranges) || ranges.length === 0) throw new InvalidSpecError(`${field}: expected a non-empty list of {first, last}`, { field });
  const { first: min, last: max } = ID_SPACE[kind];
  const out = ranges.map((r, i) => {
    const ok = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= min && (n as number) <= max;
    if (!ok(r?.first) || !ok(r?.last) || r.first > r.last) {
      throw new InvalidSpecError(`${field}[${i}]: ${JSON.stringify(r)} is not a range within ${min}..${max} with first ≤ last`, { field: `${field}[${i}]` });
    }
    return { first: r.first, last: r.last };
  });
  const sorted = [...out].sort((a, b) => a.first - b.first);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.first <= sorted[i - 1]!.last) {
      throw new InvalidSpecError(`${field}: ranges ${rangeText(sorted[i - 1]!)} and ${rangeText(sorted[i]!)} overlap`, { field });
    }
  }
  return sorted;
}

export const rangeText = (r: IdRange): string => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`);

function parseTimer(v: number | undefined, dflt: number, field: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 0 || v > MAX_TIMER_MS) {
    throw new InvalidSpecError(`${field}: ${JSON.stringify(v)} must be whole milliseconds between 0 and ${MAX_TIMER_MS}`, { field });
  }
  return v;
}
