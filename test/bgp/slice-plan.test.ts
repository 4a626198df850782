// SliceTables' pure parts, table-driven: validating the desired slices
// (every refusal names its field) and deciding which provider routes go into
// which slice's table (or are skipped, and why). No kernel, no daemons.
import { describe, expect, it } from 'vitest';
import { providerRouteFor, resolveSliceTables, type SliceTableSpec } from '../../src/bgp/slice-tables.js';
import type { ProviderRoute } from '../../src/bgp/watch.js';
import { InvalidSpecError } from '../../src/errors.js';

const A: SliceTableSpec = {
  slice: 'a', table: 5001, blocks: ['203.0.113.0/25', '2001:db8:1000::/48'],
  nextHops: [{ address: '198.18.50.2', dev: 'br-a' }, { address: '2001:db8:50:0::2', dev: 'br-a' }], routes: 'full',
};
const B: SliceTableSpec = { slice: 'b', table: 5002, blocks: ['203.0.113.128/25'], nextHops: [{ address: '198.18.51.2', dev: 'br-b' }], routes: 'default' };

describe('resolveSliceTables', () => {
  it('canonicalizes addresses and prefixes', () => {
    const [a] = resolveSliceTables([A]);
    expect(a!.blocks).toEqual([{ cidr: '203.0.113.0/25', family: 2 }, { cidr: '2001:db8:1000::/48', family: 10 }]);
    expect([...a!.nextHop]).toEqual([[2, { address: '198.18.50.2', dev: 'br-a' }], [10, { address: '2001:db8:50::2', dev: 'br-a' }]]);
    expect(resolveSliceTables([])).toEqual([]);
  });

  it.each<[string, SliceTableSpec[], string, RegExp]>([
    ['no name', [{ ...A, slice: '' }], 'slices[0].slice', /a name is required/],
    ['a name twice', [A, { ...B, slice: 'a' }], 'slices[1].slice', /listed twice/],
    ['the main table', [{ ...A, table: 254 }], 'slices[0].table', /outside the slice table range/],
    ['a small table', [{ ...A, table: 100 }], 'slices[0].table', /outside/],
    ['a fractional table', [{ ...A, table: 5000.5 }], 'slices[0].table', /outside/],
    ['a table above 32 bits', [{ ...A, table: 2 ** 32 }], 'slices[0].table', /outside/],
    ['one table for two slices', [A, { ...B, table: 5001 }], 'slices[1].table', /already the table of slice a/],
    ['routes neither default nor full', [{ ...A, routes: 'all' as 'full' }], 'slices[0].routes', /"default" or "full"/],
    ['no block', [{ ...A, blocks: [] }], 'slices[0].blocks', /at least one block/],
    ['a block with host bits', [{ ...A, blocks: ['203.0.113.1/25'] }], 'slices[0].blocks[0]', /host bits are set/],
    ['a block that is not a prefix', [{ ...A, blocks: ['203.0.113.0'] }], 'slices[0].blocks[0]', /missing the \/length/],
    ['overlapping blocks of two slices', [A, { ...B, blocks: ['203.0.113.64/26'] }], 'slices[1].blocks[0]', /overlaps 203\.0\.113\.0\/25 of slice a/],
    ['a block without a next hop of its family', [{ ...B, blocks: ['2001:db8:2000::/48'] }], 'slices[0].nextHops', /no ipv6 next hop/],
    ['a next hop that is not an address', [{ ...B, nextHops: [{ address: '198.18.51', dev: 'x' }] }], 'slices[0].nextHops[0].address', /not an IP address/],
    ['a next hop of the wrong declared family', [{ ...B, nextHops: [{ family: 'ipv6', address: '198.18.51.2', dev: 'x' }] }], 'slices[0].nextHops[0].family', /is ipv4/],
    ['two next hops of one family', [{ ...B, nextHops: [{ address: '198.18.51.2', dev: 'x' }, { address: '198.18.51.3', dev: 'x' }] }], 'slices[0].nextHops[1]', /a second ipv4 next hop/],
    ['a device name too long', [{ ...B, nextHops: [{ address: '198.18.51.2', dev: 'a-very-long-name-0' }] }], 'slices[0].nextHops[0].dev', /not an interface name/],
    ['a device name with a slash', [{ ...B, nextHops: [{ address: '198.18.51.2', dev: 'a/b' }] }], 'slices[0].nextHops[0].dev', /not an interface name/],
  ])('refuses %s', (_name, slices, field, msg) => {
    let err: unknown;
    try { resolveSliceTables(slices); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidSpecError);
    expect((err as InvalidSpecError).field).toBe(field);
    expect((err as Error).message).toMatch(msg);
  });

  it('a narrower table range is honoured', () => {
    expect(() => resolveSliceTables([A], { first: 6000, last: 7000 })).toThrow(/outside the slice table range 6000\.\.7000/);
  });
});

describe('providerRouteFor', () => {
  const [a, b] = resolveSliceTables([A, B]);
  const r = (prefix: string, nextHop: string): ProviderRoute => ({ prefix, neighbor: '198.18.1.2', nextHop, asPath: [64501] });
  it.each<[string, 'a' | 'b', ProviderRoute, unknown]>([
    ['full: a default', 'a', r('0.0.0.0/0', '198.18.1.2'), { spec: { dst: '0.0.0.0/0', gateway: '198.18.1.2', table: 5001, protocol: 201 } }],
    ['full: a host prefix', 'a', r('192.0.2.1/32', '198.18.1.2'), { spec: { dst: '192.0.2.1/32', gateway: '198.18.1.2', table: 5001, protocol: 201 } }],
    ['full: IPv6, next hop canonicalized', 'a', r('2001:db8:ffff::/48', '2001:DB8:FF01:0::2'), { spec: { dst: '2001:db8:ffff::/48', gateway: '2001:db8:ff01::2', table: 5001, protocol: 201 } }],
    ['default: a default', 'b', r('0.0.0.0/0', '198.18.1.2'), { spec: { dst: '0.0.0.0/0', gateway: '198.18.1.2', table: 5002, protocol: 201 } }],
    ['default: not a host prefix', 'b', r('192.0.2.1/32', '198.18.1.2'), undefined],
    ['no IPv6 routes for a slice without an IPv6 block', 'b', r('::/0', '2001:db8:ff01::2'), undefined],
    ['no next hop', 'a', r('192.0.2.0/24', ''), { skip: 'no next hop (from 198.18.1.2)' }],
    ['a next hop that is not an address', 'a', r('192.0.2.0/24', 'nope'), { skip: 'next hop "nope" is not an address' }],
    ['a next hop of the other family', 'a', r('2001:db8:ffff::/48', '198.18.1.2'), { skip: 'next hop 198.18.1.2 is of the other address family' }],
    ['an unspecified next hop', 'a', r('192.0.2.0/24', '0.0.0.0'), { skip: 'next hop 0.0.0.0 is unspecified' }],
    ['the slice\'s own block', 'a', r('203.0.113.0/25', '198.18.1.2'), { skip: 'it is the slice\'s own block' }],
    ['a prefix that is not one', 'a', r('banana', '198.18.1.2'), { skip: 'prefix "banana" is not an IP prefix' }],
  ])('%s', (_name, which, route, want) => {
    expect(providerRouteFor(which === 'a' ? a! : b!, route)).toEqual(want);
  });
});
