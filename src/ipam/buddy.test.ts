import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BuddySpace } from './buddy.js';
import { formatPrefix, parsePrefix, sizeOf, type Prefix } from './prefix.js';

const p = (t: string): Prefix => parsePrefix(t, 't');
const space = (t: string): BuddySpace => new BuddySpace(p(t));
const take = (s: BuddySpace, len: number): string | undefined => {
  const start = s.allocate(len);
  return start === undefined ? undefined : formatPrefix({ family: s.family, start, length: len });
};
const free = (s: BuddySpace): string[] => s.freeBlocks().map(formatPrefix);

describe('BuddySpace', () => {
  it('allocates lowest first and splits into buddies', () => {
    const s = space('192.0.2.0/24');
    expect(take(s, 26)).toBe('192.0.2.0/26');
    expect(free(s)).toEqual(['192.0.2.64/26', '192.0.2.128/25']);
    expect(take(s, 26)).toBe('192.0.2.64/26');
    expect(take(s, 25)).toBe('192.0.2.128/25');
    expect(s.largestFree()).toBeUndefined();
  });

  it('is best fit: a small request uses the smallest hole, keeping big ones whole', () => {
    const s = space('192.0.2.0/24');
    s.reserve(p('192.0.2.0/28').start, 28); // leaves /28, /27, /26, /25 free
    expect(take(s, 28)).toBe('192.0.2.16/28');
    expect(take(s, 27)).toBe('192.0.2.32/27');
    expect(s.largestFree()).toBe(25);
  });

  it('hands out the last block of a pool, then nothing', () => {
    const s = space('198.51.100.0/24');
    const got = Array.from({ length: 16 }, () => take(s, 28));
    expect(new Set(got).size).toBe(16);
    expect(got[15]).toBe('198.51.100.240/28');
    expect(take(s, 28)).toBeUndefined();
    expect(take(s, 31)).toBeUndefined();
    expect(s.freeAddresses()).toBe(0n);
  });

  it.each([
    ['exact free block', '192.0.2.64/26', true],
    ['inside the taken /26', '192.0.2.8/29', false],
    ['containing the taken /26', '192.0.2.0/25', false],
    ['a /31 in free space', '192.0.2.254/31', true],
  ])('reserve: %s', (_what, block, ok) => {
    const s = space('192.0.2.0/24');
    expect(s.reserve(p('192.0.2.0/26').start, 26)).toBe(true);
    expect(s.reserve(p(block).start, p(block).length)).toBe(ok);
  });

  it('release merges buddies back into the whole', () => {
    const s = space('2001:db8::/32');
    const a = s.allocate(127)!;
    const b = s.allocate(127)!;
    const c = s.allocate(64)!;
    s.release(b, 127);
    s.release(a, 127);
    s.release(c, 64);
    expect(free(s)).toEqual(['2001:db8::/32']);
  });

  it('refuses to free space that is free', () => {
    const s = space('192.0.2.0/24');
    const a = s.allocate(26)!;
    s.release(a, 26);
    expect(() => s.release(a, 26)).toThrow(/free already/);
    expect(() => s.release(p('192.0.2.0/27').start, 27)).toThrow(/free already/);
  });

  it('rejects blocks outside the space or misaligned', () => {
    const s = space('192.0.2.0/24');
    expect(() => s.reserve(p('198.51.100.0/26').start, 26)).toThrow(RangeError);
    expect(() => s.reserve(p('192.0.2.0/24').start + 4n, 26)).toThrow(RangeError);
    expect(() => s.allocate(23)).toThrow(RangeError);
  });

  it('never hands out overlapping blocks and loses no space (random ops)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 24, max: 32 }).map((len) => ({ op: 'alloc' as const, len })), fc.nat().map((i) => ({ op: 'free' as const, i }))), { maxLength: 200 }), (ops) => {
        const s = space('203.0.113.0/24');
        const held: Prefix[] = [];
        for (const o of ops) {
          if (o.op === 'alloc') {
            const start = s.allocate(o.len);
            const total = held.reduce((n, h) => n + sizeOf('ipv4', h.length), 0n);
            if (start === undefined) {
              // Refused only when no free block of that size exists.
              expect((s.largestFree() ?? 33) > o.len).toBe(true);
              continue;
            }
            const block = { family: 'ipv4' as const, start, length: o.len };
            for (const h of held) expect(h.start + sizeOf('ipv4', h.length) <= start || start + sizeOf('ipv4', o.len) <= h.start).toBe(true);
            held.push(block);
            expect(s.freeAddresses()).toBe(256n - total - sizeOf('ipv4', o.len));
          } else if (held.length > 0) {
            const [h] = held.splice(o.i % held.length, 1);
            s.release(h!.start, h!.length);
          }
        }
        for (const h of held) s.release(h.start, h.length);
        expect(free(s)).toEqual(['203.0.113.0/24']);
      }),
    );
  });
});
