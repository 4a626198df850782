import { describe, expect, it } from 'vitest';
import { unusableReason, usableCount, usableHosts } from './host-rules.js';
import type { Family } from './prefix.js';

describe('usable host addresses', () => {
  it.each([
    ['ipv4', 31, 0n, 1n],
    ['ipv4', 30, 1n, 2n],
    ['ipv4', 29, 1n, 6n],
    ['ipv4', 24, 1n, 254n],
    ['ipv6', 127, 0n, 1n],
    ['ipv6', 126, 1n, 3n],
    ['ipv6', 120, 1n, 255n],
    ['ipv6', 64, 1n, 2n ** 64n - 129n],
  ] as const)('%s /%i: offsets %i..%i', (family, len, first, last) => {
    expect(usableHosts(family as Family, len)).toEqual({ first, last });
    expect(usableCount(family as Family, len)).toBe(last - first + 1n);
  });

  it.each([
    ['ipv4', 31, 0n, undefined],
    ['ipv4', 31, 1n, undefined],
    ['ipv4', 30, 0n, 'the network address'],
    ['ipv4', 30, 3n, 'the broadcast address'],
    ['ipv4', 30, 2n, undefined],
    ['ipv6', 127, 0n, undefined],
    ['ipv6', 64, 0n, 'the subnet-router anycast address (RFC 4291)'],
    ['ipv6', 64, 2n ** 64n - 1n, 'a reserved subnet anycast address (RFC 2526)'],
    ['ipv6', 64, 2n ** 64n - 128n, 'a reserved subnet anycast address (RFC 2526)'],
    ['ipv6', 64, 2n ** 64n - 129n, undefined],
    ['ipv6', 120, 255n, undefined],
  ] as const)('%s /%i offset %s: %s', (family, len, offset, why) => {
    expect(unusableReason(family as Family, len, offset)).toBe(why);
  });
});
