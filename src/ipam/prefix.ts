// Addresses and prefixes as (family, bigint) so IPv4 and IPv6 share one
// arithmetic. Parsing goes through the ip-address package (plus stricter
// rules of our own); formatting is done here because it is on the hot path
// (a 1,000-link slice formats 3,000 strings) and ip-address's formatter costs
// about ten times more. Tests hold the two formatters to the same output.

import { Address4, Address6 } from 'ip-address';
import { InvalidSpecError } from '../errors.js';

export type Family = 'ipv4' | 'ipv6';

export const BITS: Readonly<Record<Family, number>> = { ipv4: 32, ipv6: 128 };

export interface Prefix {
  readonly family: Family;
  /** The network address. */
  readonly start: bigint;
  readonly length: number;
}

export interface Address {
  readonly family: Family;
  readonly value: bigint;
}

const DOTTED_QUAD = /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/;

/** A bare address (no prefix length, no zone); dotted quads must not have leading zeros. */
export function parseAddress(text: string, field: string): Address {
  const bad = (why: string): InvalidSpecError => new InvalidSpecError(`${field}: ${JSON.stringify(text)} is not an IP address: ${why}`, { field });
  if (typeof text !== 'string' || text.length === 0) throw bad('empty');
  if (text.includes('/')) throw bad('expected an address without a prefix length');
  if (text.includes('%')) throw bad('zone identifiers are not allowed');
  if (text.includes(':')) {
    try {
      return { family: 'ipv6', value: new Address6(text).bigInt() };
    } catch (err) {
      throw bad((err as Error).message);
    }
  }
  // Leading zeros are rejected: inet_aton reads them as octal, ip-address as decimal.
  if (!DOTTED_QUAD.test(text)) throw bad('expected a dotted quad like 192.0.2.1');
  try {
    return { family: 'ipv4', value: new Address4(text).bigInt() };
  } catch (err) {
    throw bad((err as Error).message);
  }
}

/** `address/length` with no host bits set. */
export function parsePrefix(text: string, field: string): Prefix {
  const bad = (why: string): InvalidSpecError => new InvalidSpecError(`${field}: ${JSON.stringify(text)} is not a prefix: ${why}`, { field });
  if (typeof text !== 'string') throw bad('not a string');
  const slash = text.indexOf('/');
  if (slash < 0) throw bad('missing the /length');
  const lenText = text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(lenText)) throw bad(`bad prefix length ${JSON.stringify(lenText)}`);
  let addr: Address;
  try {
    addr = parseAddress(text.slice(0, slash), field);
  } catch (err) {
    throw bad((err as Error).message.replace(/^.*?: /, ''));
  }
  const length = Number(lenText);
  if (length > BITS[addr.family]) throw bad(`length /${length} is longer than ${BITS[addr.family]} bits`);
  const start = alignDown(addr.family, addr.value, length);
  if (start !== addr.value) {
    throw bad(`host bits are set; did you mean ${formatPrefix({ family: addr.family, start, length })}?`);
  }
  return { family: addr.family, start, length };
}

export const sizeOf = (family: Family, length: number): bigint => 1n << BigInt(BITS[family] - length);

export const lastOf = (p: Prefix): bigint => p.start + sizeOf(p.family, p.length) - 1n;

export function alignDown(family: Family, value: bigint, length: number): bigint {
  const hostBits = BigInt(BITS[family] - length);
  return (value >> hostBits) << hostBits;
}

export const containsAddress = (p: Prefix, a: Address): boolean =>
  p.family === a.family && a.value >= p.start && a.value <= lastOf(p);

export const containsPrefix = (outer: Prefix, inner: Prefix): boolean =>
  outer.family === inner.family && outer.length <= inner.length && alignDown(outer.family, inner.start, outer.length) === outer.start;

/** Aligned prefixes overlap exactly when one contains the other. */
export const overlaps = (a: Prefix, b: Prefix): boolean => containsPrefix(a, b) || containsPrefix(b, a);

/** Length of the longest prefix both values share. */
export function commonLength(family: Family, a: bigint, b: bigint): number {
  const bits = BITS[family];
  const diff = a ^ b;
  return diff === 0n ? bits : bits - diff.toString(2).length;
}

/** Smallest prefix length whose block holds `count` addresses (count ≥ 1). */
export function lengthFor(family: Family, count: bigint): number {
  const bits = BITS[family];
  if (count <= 1n) return bits;
  return Math.max(0, bits - (count - 1n).toString(2).length);
}

export function formatAddress(family: Family, value: bigint): string {
  return family === 'ipv4' ? formatV4(value) : formatV6(value);
}

export const formatPrefix = (p: Prefix): string => `${formatAddress(p.family, p.start)}/${p.length}`;

function formatV4(v: bigint): string {
  const n = Number(v);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

// RFC 5952: lower case, no leading zeros, the longest run of two or more
// zero groups (the first one on a tie) shortened to "::". Works on four
// 32-bit words so that only four BigInt operations are needed per address.
function formatV6(v: bigint): string {
  const groups = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let w = 3; w >= 0; w--) {
    const word = Number(v & 0xffffffffn);
    groups[2 * w] = word >>> 16;
    groups[2 * w + 1] = word & 0xffff;
    v >>= 32n;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    if (groups[i] !== 0) continue;
    let j = i + 1;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestAt) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out.length > 0 && !out.endsWith(':')) out += ':';
    out += groups[i]!.toString(16);
  }
  return out;
}
