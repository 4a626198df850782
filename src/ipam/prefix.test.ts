import fc from 'fast-check';
import { Address4, Address6 } from 'ip-address';
import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import { alignDown, commonLength, containsPrefix, formatAddress, formatPrefix, lengthFor, overlaps, parseAddress, parsePrefix } from './prefix.js';

describe('parseAddress', () => {
  it.each([
    ['192.0.2.1', 'ipv4', 3221225985n],
    ['0.0.0.0', 'ipv4', 0n],
    ['255.255.255.255', 'ipv4', 4294967295n],
    ['2001:db8::1', 'ipv6', 0x20010db8000000000000000000000001n],
    ['2001:DB8:0:0::1', 'ipv6', 0x20010db8000000000000000000000001n],
    ['::', 'ipv6', 0n],
  ] as const)('accepts %s', (text, family, value) => {
    expect(parseAddress(text, 'f')).toEqual({ family, value });
  });

  it.each([
    ['', /empty/],
    ['192.0.2.01', /dotted quad/],
    ['192.0.2', /dotted quad/],
    ['192.0.2.256', /not an IP address/],
    ['192.0.2.1/32', /without a prefix length/],
    ['2001:db8::1%eth0', /zone/],
    ['2001:db8::g', /not an IP address/],
    ['1:2:3:4:5:6:7:8:9', /not an IP address/],
  ])('rejects %j', (text, why) => {
    const err = (() => {
      try {
        parseAddress(text, 'links[0].interfaces[1].ipv4');
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(InvalidSpecError);
    expect((err as InvalidSpecError).field).toBe('links[0].interfaces[1].ipv4');
    expect((err as Error).message).toMatch(why);
  });
});

describe('parsePrefix', () => {
  it.each([
    ['192.0.2.0/24', 'ipv4', 3221225984n, 24],
    ['192.0.2.255/32', 'ipv4', 3221226239n, 32],
    ['0.0.0.0/0', 'ipv4', 0n, 0],
    ['2001:db8::/32', 'ipv6', 0x20010db8n << 96n, 32],
    ['2001:db8::/127', 'ipv6', 0x20010db8n << 96n, 127],
  ] as const)('accepts %s', (text, family, start, length) => {
    expect(parsePrefix(text, 'p')).toEqual({ family, start, length });
  });

  it.each([
    ['192.0.2.1/24', 'host bits are set; did you mean 192.0.2.0/24?'],
    ['2001:db8::1/64', 'host bits are set; did you mean 2001:db8::/64?'],
    ['192.0.2.0/33', 'longer than 32 bits'],
    ['2001:db8::/129', 'longer than 128 bits'],
    ['192.0.2.0', 'missing the /length'],
    ['192.0.2.0/', 'bad prefix length'],
    ['192.0.2.0/024', 'bad prefix length'],
    ['192.0.2.0/-1', 'bad prefix length'],
    ['192.0.02.0/24', 'dotted quad'],
  ])('rejects %s (%s)', (text, why) => {
    expect(() => parsePrefix(text, 'pool "x" prefix')).toThrow(why);
    expect(() => parsePrefix(text, 'pool "x" prefix')).toThrow(/^pool "x" prefix: /);
  });
});

describe('prefix arithmetic', () => {
  const p = (t: string) => parsePrefix(t, 't');
  it.each([
    ['192.0.2.0/24', '192.0.2.128/25', true],
    ['192.0.2.128/25', '192.0.2.0/24', false],
    ['192.0.2.0/25', '192.0.2.128/25', false],
    ['2001:db8::/32', '2001:db8:ffff::/48', true],
    ['2001:db8::/32', '192.0.2.0/24', false],
  ])('%s contains %s: %s', (a, b, want) => expect(containsPrefix(p(a), p(b))).toBe(want));

  it('overlap is containment either way', () => {
    expect(overlaps(p('192.0.2.0/24'), p('192.0.2.64/26'))).toBe(true);
    expect(overlaps(p('192.0.2.64/26'), p('192.0.2.0/24'))).toBe(true);
    expect(overlaps(p('192.0.2.0/26'), p('192.0.2.64/26'))).toBe(false);
  });

  it.each([
    [1n, 32], [2n, 31], [3n, 30], [4n, 30], [5n, 29], [256n, 24], [257n, 23],
  ])('lengthFor(ipv4, %s) = /%i', (n, len) => expect(lengthFor('ipv4', n)).toBe(len));

  it('commonLength and alignDown agree', () => {
    const a = parseAddress('192.0.2.17', 't').value;
    const b = parseAddress('192.0.2.30', 't').value;
    expect(commonLength('ipv4', a, b)).toBe(28);
    expect(commonLength('ipv4', a, a)).toBe(32);
    expect(formatAddress('ipv4', alignDown('ipv4', a, 28))).toBe('192.0.2.16');
  });
});

describe('formatting matches ip-address', () => {
  // Few zero groups are rare in uniform 128-bit numbers; build addresses from mostly-zero groups.
  const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
  const v6 = fc.array(group, { minLength: 8, maxLength: 8 }).map((gs) => gs.reduce((v, g) => (v << 16n) | BigInt(g), 0n));

  it('IPv6, RFC 5952 form', () => {
    fc.assert(fc.property(v6, (v) => formatAddress('ipv6', v) === Address6.fromBigInt(v).correctForm()), { numRuns: 2000 });
  });

  it('IPv4', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => formatAddress('ipv4', BigInt(n)) === Address4.fromInteger(n).correctForm()));
  });

  it('parse ∘ format is the identity', () => {
    fc.assert(fc.property(v6, fc.integer({ min: 0, max: 128 }), (v, len) => {
      const start = alignDown('ipv6', v, len);
      const text = formatPrefix({ family: 'ipv6', start, length: len });
      expect(parsePrefix(text, 't')).toEqual({ family: 'ipv6', start, length: len });
    }));
  });
});
