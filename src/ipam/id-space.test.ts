import { describe, expect, it } from 'vitest';
import { IdSpace } from './id-space.js';

describe('IdSpace', () => {
  it('allocates next-fit from the cursor and moves it on', () => {
    const s = new IdSpace([{ first: 1, last: 100 }]);
    expect(s.allocate(3, 1)).toEqual({ runs: [{ start: 1, count: 3 }], cursor: 4 });
    expect(s.allocate(2, 4)).toEqual({ runs: [{ start: 4, count: 2 }], cursor: 6 });
    expect(s.free()).toBe(95);
  });

  it('does not reuse a just-released id before wrapping around', () => {
    const s = new IdSpace([{ first: 1, last: 5 }]);
    const a = s.allocate(1, 1)!;
    s.release(a.runs[0]!);
    expect(s.allocate(1, a.cursor)!.runs).toEqual([{ start: 2, count: 1 }]);
    // Wrapping: cursor at the end, 1 is free again.
    expect(s.allocate(4, 3)!.runs).toEqual([{ start: 3, count: 3 }, { start: 1, count: 1 }]);
  });

  it('spans fragmented gaps and several ranges', () => {
    const s = new IdSpace([{ first: 10, last: 14 }, { first: 100, last: 101 }]);
    expect(s.take({ start: 11, count: 1 })).toBe(true);
    expect(s.take({ start: 13, count: 1 })).toBe(true);
    expect(s.allocate(5, 10)!.runs).toEqual([
      { start: 10, count: 1 },
      { start: 12, count: 1 },
      { start: 14, count: 1 },
      { start: 100, count: 2 },
    ]);
    expect(s.free()).toBe(0);
  });

  it('refuses more than is free and takes nothing', () => {
    const s = new IdSpace([{ first: 1, last: 4 }]);
    s.take({ start: 2, count: 1 });
    expect(s.allocate(4, 1)).toBeUndefined();
    expect(s.free()).toBe(3);
  });

  it('handles the top of the 32-bit space', () => {
    const s = new IdSpace([{ first: 2 ** 32 - 3, last: 2 ** 32 - 1 }]);
    expect(s.allocate(3, 0)!.runs).toEqual([{ start: 2 ** 32 - 3, count: 3 }]);
    expect(s.allocate(1, 0)).toBeUndefined();
  });

  it('take refuses overlaps; release refuses unknown runs', () => {
    const s = new IdSpace([{ first: 1, last: 100 }]);
    expect(s.take({ start: 10, count: 5 })).toBe(true);
    expect(s.take({ start: 14, count: 1 })).toBe(false);
    expect(s.take({ start: 6, count: 5 })).toBe(false);
    expect(s.take({ start: 5, count: 5 })).toBe(true);
    expect(s.take({ start: 15, count: 1 })).toBe(true);
    expect(() => s.release({ start: 10, count: 4 })).toThrow(/not a taken run/);
  });
});
