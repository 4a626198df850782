import { describe, expect, it } from 'vitest';
import { expectInvalidSpec } from '../../test/ipam/support.js';
import { configToSpec, parseConfig } from './config.js';
import type { IpamConfigSpec, PoolSpec } from './types.js';

const pool = (extra: Partial<PoolSpec> = {}): PoolSpec => ({ name: 'lab-v4', prefix: '192.0.2.0/24', class: 'private', ...extra });

describe('parseConfig', () => {
  it('fills in defaults', () => {
    const c = parseConfig({ pools: [pool(), { name: 'lab-v6', prefix: '2001:db8::/32', class: 'local' }] });
    expect(configToSpec(c)).toEqual({
      pools: [
        { name: 'lab-v4', prefix: '192.0.2.0/24', class: 'private', defaultBlockLength: 28, largestBlockLength: 24 },
        { name: 'lab-v6', prefix: '2001:db8::/32', class: 'local', defaultBlockLength: 56, largestBlockLength: 48 },
      ],
      identifiers: {
        greKey: [{ first: 1, last: 4294967295 }],
        vni: [{ first: 1, last: 16777215 }],
        groupId: [{ first: 4096, last: 4294967295 }],
      },
      cooldownMs: 600_000,
      allocationTtlMs: 600_000,
    });
  });

  it.each([
    ['a small pool: limits shrink to it', pool({ prefix: '192.0.2.0/29' }), 29, 29],
    ['only a default given: the limit follows it', pool({ defaultBlockLength: 22, prefix: '198.18.0.0/16' }), 22, 22],
    ['only a limit given', pool({ largestBlockLength: 26 }), 28, 26],
    ['a /31 pool holds one p2p link', pool({ prefix: '192.0.2.0/31' }), 31, 31],
  ])('limits: %s', (_what, p, dflt, largest) => {
    const c = parseConfig({ pools: [p] });
    expect(c.pools[0]).toMatchObject({ defaultBlockLength: dflt, largestBlockLength: largest });
  });

  it('the resolved spec round-trips', () => {
    const c = parseConfig({ pools: [pool()], identifiers: { vni: [{ first: 5000, last: 5999 }] }, cooldownMs: 0 });
    expect(parseConfig(configToSpec(c))).toEqual(c);
  });

  it.each<[string, IpamConfigSpec, string, string]>([
    ['malformed prefix', { pools: [pool({ prefix: '192.0.2/24' })] }, 'pool "lab-v4" prefix: "192.0.2/24" is not a prefix', 'pool "lab-v4" prefix'],
    ['host bits set', { pools: [pool({ prefix: '192.0.2.1/24' })] }, 'did you mean 192.0.2.0/24?', 'pool "lab-v4" prefix'],
    ['bad name', { pools: [pool({ name: 'Lab_V4' })] }, 'is not a pool name', 'pools[0].name'],
    ['bad class', { pools: [pool({ class: 'global' as never })] }, 'class "global" is not one of public, local, private', 'pools[0].class'],
    [
      'overlapping pools',
      { pools: [pool(), pool({ name: 'inner', prefix: '192.0.2.128/25', class: 'public' })] },
      'pool "inner": 192.0.2.128/25 overlaps pool "lab-v4" 192.0.2.0/24',
      'pools[1].prefix',
    ],
    ['same name twice', { pools: [pool(), pool({ prefix: '198.51.100.0/24' })] }, 'pool "lab-v4": defined twice', 'pools[1].name'],
    ['limit wider than the pool', { pools: [pool({ largestBlockLength: 23 })] }, 'largestBlockLength /23 must be between the pool\'s /24 and /31', 'pools[0].largestBlockLength'],
    ['default wider than the limit', { pools: [pool({ defaultBlockLength: 25, largestBlockLength: 26 })] }, 'defaultBlockLength /25 must be between largestBlockLength /26 and /31', 'pools[0].defaultBlockLength'],
    ['a /32 pool holds nothing', { pools: [pool({ prefix: '192.0.2.1/32' })] }, 'largestBlockLength /32 must be between', 'pools[0].largestBlockLength'],
    ['VNI beyond 24 bits', { pools: [], identifiers: { vni: [{ first: 1, last: 2 ** 24 }] } }, 'is not a range within 1..16777215', 'identifiers.vni[0]'],
    ['VNI 0 (VXLAN refuses it)', { pools: [], identifiers: { vni: [{ first: 0, last: 10 }] } }, 'is not a range within 1..16777215', 'identifiers.vni[0]'],
    ['link group 0 (every link\'s default group)', { pools: [], identifiers: { groupId: [{ first: 0, last: 10 }] } }, 'is not a range within 1..4294967295', 'identifiers.groupId[0]'],
    ['range backwards', { pools: [], identifiers: { greKey: [{ first: 10, last: 9 }] } }, 'first ≤ last', 'identifiers.greKey[0]'],
    ['overlapping ranges', { pools: [], identifiers: { greKey: [{ first: 1, last: 10 }, { first: 10, last: 20 }] } }, 'ranges 1-10 and 10-20 overlap', 'identifiers.greKey'],
    ['unknown identifier kind', { pools: [], identifiers: { vlan: [{ first: 1, last: 2 }] } as never }, 'unknown kind "vlan"', 'identifiers.vlan'],
    ['negative cooldown', { pools: [], cooldownMs: -1 }, 'cooldownMs: -1 must be whole milliseconds', 'cooldownMs'],
    ['fractional ttl', { pools: [], allocationTtlMs: 1.5 }, 'allocationTtlMs: 1.5 must be whole milliseconds', 'allocationTtlMs'],
  ])('rejects %s', (_what, spec, message, field) => {
    expectInvalidSpec(() => parseConfig(spec), message, field);
  });
});
