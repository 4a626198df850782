import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.js';
import { blockSizing, subnetLength } from './sizing.js';
import type { Family } from './prefix.js';

describe('subnetLength', () => {
  it.each([
    ['ipv4', 'p2p', 2, {}, 31],
    ['ipv4', 'p2p', 2, { prefixLength: 30 }, 30],
    ['ipv6', 'p2p', 2, {}, 127],
    ['ipv6', 'p2p', 2, { prefixLength: 64 }, 64],
    // LAN v4: members + headroom (max(2, ⌈n/2⌉)) + network + broadcast, rounded up.
    ['ipv4', 'lan', 3, {}, 29], // 3 + 2 + 2 = 7 → 8
    ['ipv4', 'lan', 4, {}, 29], // 4 + 2 + 2 = 8
    ['ipv4', 'lan', 5, {}, 28], // 5 + 3 + 2 = 10 → 16
    ['ipv4', 'lan', 40, {}, 26], // 40 + 20 + 2 = 62 → 64
    ['ipv4', 'lan', 41, {}, 26], // 41 + 21 + 2 = 64: exactly a /26
    ['ipv4', 'lan', 42, {}, 25], // 42 + 21 + 2 = 65 → 128
    ['ipv4', 'lan', 6, { headroom: 0 }, 29],
    ['ipv4', 'lan', 1, {}, 29],
    ['ipv4', 'lan', 2, { prefixLength: 30 }, 30],
    ['ipv6', 'lan', 3, {}, 64],
    ['ipv6', 'lan', 3, { prefixLength: 120 }, 120],
  ] as const)('%s %s with %i members %j → /%i', (family, shape, members, spec, want) => {
    expect(subnetLength(family as Family, shape, members, { class: 'local', ...spec }, 'links[0].ipv4')).toBe(want);
  });

  it.each([
    ['ipv4', 'p2p', { prefixLength: 29 }, 'a point-to-point ipv4 link takes /31 or /30, not /29'],
    ['ipv6', 'p2p', { prefixLength: 126 }, 'a point-to-point ipv6 link takes /127 or /64, not /126'],
    ['ipv4', 'p2p', { headroom: 2 }, 'only LAN links take headroom'],
    ['ipv4', 'lan', { prefixLength: 31 }, 'a /31 cannot hold a LAN'],
    ['ipv6', 'lan', { prefixLength: 127 }, 'a /127 cannot hold a LAN'],
    ['ipv4', 'lan', { prefixLength: 33 }, 'is not a valid ipv4 prefix length'],
    ['ipv4', 'lan', { headroom: -1 }, 'must be a whole number'],
    ['ipv4', 'lan', { prefixLength: 30, members: 3 }, 'f.prefixLength: a /30 cannot hold a LAN of 3 members'],
  ] as const)('%s %s %j is refused', (family, shape, spec, why) => {
    const members = 'members' in spec ? spec.members : 2;
    expect(() => subnetLength(family as Family, shape, members, { class: 'local', ...spec }, 'f')).toThrow(why);
  });
});

describe('blockSizing', () => {
  const pool = (prefix: string, extra: object = {}) => parseConfig({ pools: [{ name: 'p', prefix, class: 'local', ...extra }] }).pools[0]!;

  it.each([
    // 40 /31 links = 80 addresses: exact fit /25, with growth room 100 → 128 → still /25.
    ['40 p2p links', '192.0.2.0/24', {}, Array(40).fill(31), 25, [25]],
    // 4 /31s = 8: default /28 is the bigger of default and need+growth, then down to the exact /29.
    ['4 p2p links', '192.0.2.0/24', {}, Array(4).fill(31), 29, [28, 29]],
    // 64 /31s = 128 exactly: growth asks for /24, the pool's largest.
    ['64 p2p links', '192.0.2.0/24', {}, Array(64).fill(31), 25, [24, 25]],
    ['no links', '192.0.2.0/24', {}, [], 31, [28]],
    ['larger than the pool allows', '192.0.2.0/24', { largestBlockLength: 26 }, Array(40).fill(31), 25, []],
    ['1000 /127s in a /32', '2001:db8::/32', {}, Array(1000).fill(127), 117, [56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117]],
  ])('%s', (_what, prefix, extra, lengths, need, candidates) => {
    expect(blockSizing(pool(prefix, extra), lengths)).toEqual({ needLength: need, candidates });
  });

  it('an explicit size is tried alone, and only if it fits the need and the limit', () => {
    const p = pool('192.0.2.0/24');
    expect(blockSizing(p, [31, 31], 27).candidates).toEqual([27]);
    expect(blockSizing(p, Array(40).fill(31), 27).candidates).toEqual([]);
    expect(blockSizing(p, [31], 23).candidates).toEqual([]);
  });
});
