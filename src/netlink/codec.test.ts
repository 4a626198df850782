import { describe, expect, it } from 'vitest';
import {
  align4, attr, be16, be32, bytesToIp, bytesToMac, decodeMessages, encodeMessage, ipToBytes, macToBytes, nested, parseAttrList,
  parseAttrs, parseCidr, readBe16, readBe32, readStr, readU32, str, u32,
} from './codec.js';

describe('IP text ↔ bytes', () => {
  it.each([
    ['192.0.2.1', 'c0000201', '192.0.2.1'],
    ['198.18.0.0', 'c6120000', '198.18.0.0'],
    ['2001:db8::1', '20010db8000000000000000000000001', '2001:db8::1'],
    ['2001:DB8:0:0:1:0:0:1', '20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['::', '00000000000000000000000000000000', '::'],
    ['::1', '00000000000000000000000000000001', '::1'],
    ['2001:db8::', '20010db8000000000000000000000000', '2001:db8::'],
    ['2001:db8:1:2:3:4:5:6', '20010db8000100020003000400050006', '2001:db8:1:2:3:4:5:6'],
    ['2001:db8:0:1:0:0:0:1', '20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['::ffff:198.51.100.7', '00000000000000000000ffffc6336407', '::ffff:c633:6407'],
  ])('%s', (text, hex, canonical) => {
    expect(ipToBytes(text).toString('hex')).toBe(hex);
    expect(bytesToIp(Buffer.from(hex, 'hex'))).toBe(canonical);
  });

  it.each(['', '192.0.2', '192.0.2.256', '2001:db8:::1', 'eth0', '1.2.3.4/24'])('rejects %j', (bad) => {
    expect(() => ipToBytes(bad)).toThrow(/not an IP address/);
  });

  it.each([
    ['192.0.2.1/31', { address: '192.0.2.1', prefixlen: 31, family: 2 }],
    ['2001:DB8::0001/127', { address: '2001:db8::1', prefixlen: 127, family: 10 }],
    ['0.0.0.0/0', { address: '0.0.0.0', prefixlen: 0, family: 2 }],
  ])('parseCidr %s', (text, want) => expect(parseCidr(text)).toEqual(want));

  it.each(['192.0.2.1', '192.0.2.1/33', '2001:db8::/129', 'x/24', '192.0.2.1/-1'])('parseCidr rejects %j', (bad) => {
    expect(() => parseCidr(bad)).toThrow(/not an address\/prefix/);
  });

  it('MAC round trip and rejection', () => {
    expect(bytesToMac(macToBytes('02:AA:00:0b:cc:ff'))).toBe('02:aa:00:0b:cc:ff');
    expect(() => macToBytes('02:aa:00:0b:cc')).toThrow(/not a MAC/);
  });
});

describe('attributes', () => {
  it('pads to 4 bytes but records the unpadded length', () => {
    const a = attr(3, str('eth1')); // 4 + 5 bytes → 12 on the wire
    expect(a.length).toBe(12);
    expect(a.readUInt16LE(0)).toBe(9);
    expect(readStr(parseAttrs(a).get(3))).toBe('eth1');
  });

  it('integers: host order for uN, network order for beN (as the kernel expects)', () => {
    expect(u32(4711).toString('hex')).toBe('67120000');
    expect(be32(77).toString('hex')).toBe('0000004d');
    expect(be16(4789).toString('hex')).toBe('12b5');
    expect(readBe16(be16(4789))).toBe(4789);
    expect(readBe32(be32(0xdeadbeef))).toBe(0xdeadbeef);
  });

  it('nests, keeps order and repeats, strips the nested flag on parse', () => {
    const inner = [attr(1, u32(7)), attr(1, u32(8)), attr(2, str('x'))];
    const outer = nested(18, inner, true);
    expect(outer.readUInt16LE(2)).toBe(18 | 0x8000);
    const [top] = parseAttrList(outer);
    expect(top!.type).toBe(18);
    const list = parseAttrList(top!.data);
    expect(list.map((a) => a.type)).toEqual([1, 1, 2]);
    expect(readU32(parseAttrs(top!.data).get(1))).toBe(8); // last wins in the map
  });

  it('stops at a truncated attribute instead of reading past the end', () => {
    const good = attr(1, u32(1));
    const truncated = Buffer.concat([good, Buffer.from([0x20, 0x00, 0x02, 0x00, 0x01])]);
    expect(parseAttrList(truncated)).toHaveLength(1);
  });
});

describe('messages', () => {
  it('encodes the header and splits a datagram of several messages', () => {
    const a = encodeMessage(16, 0x605, 42, Buffer.from([1, 2, 3]));
    const b = encodeMessage(2, 0, 43, Buffer.alloc(20));
    expect(a.length).toBe(align4(16 + 3));
    const msgs = decodeMessages(Buffer.concat([a, b]));
    expect(msgs.map((m) => [m.type, m.flags, m.seq, m.payload.length])).toEqual([[16, 0x605, 42, 3], [2, 0, 43, 20]]);
  });

  it('ignores a trailing partial header', () => {
    expect(decodeMessages(Buffer.concat([encodeMessage(3, 0, 1, Buffer.alloc(4)), Buffer.alloc(7)]))).toHaveLength(1);
  });
});
