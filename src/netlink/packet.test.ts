// The probe frame's layout is shared with native/pktsock.c (its OFF_* and
// FRAME_LEN): these offsets are the C file's.
import { describe, expect, it } from 'vitest';
import { addr16, decodeAnswers, PROBE_ETHERTYPE, PROBE_FRAME_LEN, requestFrame, setSeq } from './packet.js';

describe('probe frames', () => {
  it('a request: broadcast, the probe ethertype, magic, op 1, both addresses (IPv4 mapped), id and seq where pktsock.c reads them', () => {
    const f = requestFrame('198.18.0.1', '2001:db8:ff::2', 0x01020304);
    setSeq(f, 9);
    expect(f.length).toBe(PROBE_FRAME_LEN);
    expect(f.subarray(0, 6).toString('hex')).toBe('ffffffffffff');
    expect(f[6]! & 0x03).toBe(0x02); // locally administered, unicast
    expect(f.readUInt16BE(12)).toBe(PROBE_ETHERTYPE);
    expect(f.subarray(14, 18).toString('latin1')).toBe('vHP1');
    expect(f[18]).toBe(1);
    expect(f.subarray(22, 38).toString('hex')).toBe('00000000000000000000ffffc6120001');
    expect(f.subarray(38, 54)).toEqual(addr16('2001:db8:ff::2'));
    expect(f.readUInt32LE(54)).toBe(0x01020304);
    expect(f.readUInt32LE(58)).toBe(9);
    expect(f.subarray(62).equals(Buffer.alloc(24))).toBe(true); // t1, t2, t3: stamped natively
  });

  it('answers: 24-byte records (id, seq, rtt ns, arrival ns)', () => {
    const b = Buffer.alloc(48);
    b.writeUInt32LE(3, 0); b.writeUInt32LE(4, 4); b.writeBigInt64LE(51_000n, 8); b.writeBigUInt64LE(1_900_000_000_123_456_789n, 16);
    b.writeUInt32LE(5, 24); b.writeUInt32LE(6, 28); b.writeBigInt64LE(0n, 32); b.writeBigUInt64LE(1_000_000n, 40);
    expect(decodeAnswers(b)).toEqual([{ id: 3, seq: 4, rttNs: 51_000, atMs: 1_900_000_000_123.456 }, { id: 5, seq: 6, rttNs: 0, atMs: 1 }]);
  });
});
