// The lab benchmark's topology (bench/lib/ring-chords.ts): 2·N distinct
// links, no self-link, every router of degree 4, small labs sensible.
import { describe, expect, it } from 'vitest';
import { chordStride, ipv4Fits, ringChords } from '../../bench/lib/ring-chords.js';

function check(n: number): { pairs: Set<string>; degree: number[] } {
  const links = ringChords(n);
  const pairs = new Set<string>();
  const degree = Array.from({ length: n }, () => 0);
  for (const l of links) {
    expect(l.a, `${l.id} is a self-link`).not.toBe(l.b);
    expect(l.a >= 0 && l.a < n && l.b >= 0 && l.b < n, `${l.id}: ${l.a} ↔ ${l.b} out of range`).toBe(true);
    const key = `${Math.min(l.a, l.b)}-${Math.max(l.a, l.b)}`;
    expect(pairs.has(key), `${l.id} repeats the pair ${key}`).toBe(false);
    pairs.add(key);
    degree[l.a]!++;
    degree[l.b]!++;
  }
  expect(new Set(links.map((l) => l.id)).size, 'ids are unique').toBe(links.length);
  return { pairs, degree };
}

describe('ringChords', () => {
  it('gives 2·N distinct links, none a self-link, every router of degree 4, for N ≥ 5', () => {
    for (let n = 5; n <= 130; n++) {
      const links = ringChords(n);
      expect(links, `N=${n}`).toHaveLength(2 * n);
      const { degree } = check(n);
      expect(degree.every((d) => d === 4), `N=${n}: degrees ${degree.join(',')}`).toBe(true);
    }
    for (const n of [999, 1000, 1001]) {
      expect(ringChords(n)).toHaveLength(2 * n);
      expect(check(n).degree.every((d) => d === 4)).toBe(true);
    }
  });

  it('keeps the ids: ring<i> is i ↔ i+1, chord<i> starts at i and goes about half way round', () => {
    const links = ringChords(1000);
    expect(links.slice(0, 1000).map((l) => l.id)).toEqual(Array.from({ length: 1000 }, (_, i) => `ring${i}`));
    expect(links.find((l) => l.id === 'ring999')).toEqual({ id: 'ring999', a: 999, b: 0 });
    expect(links.slice(1000).map((l) => l.id)).toEqual(Array.from({ length: 1000 }, (_, i) => `chord${i}`));
    expect(chordStride(1000)).toBe(499);
    expect(links.find((l) => l.id === 'chord600')).toEqual({ id: 'chord600', a: 600, b: 99 });
  });

  it('is sensible for small labs: no repeated pair, no self-link', () => {
    expect(ringChords(0)).toEqual([]);
    expect(ringChords(1)).toEqual([]);
    expect(ringChords(2)).toEqual([{ id: 'ring0', a: 0, b: 1 }]);
    expect(ringChords(3).map((l) => l.id)).toEqual(['ring0', 'ring1', 'ring2']);
    // N = 4: the ring and both diagonals, every pair once (degree 3: there is no fourth neighbour).
    expect(ringChords(4).map((l) => l.id)).toEqual(['ring0', 'ring1', 'ring2', 'ring3', 'chord0', 'chord1']);
    expect(check(4).degree).toEqual([3, 3, 3, 3]);
    // N = 5: every pair once (the complete graph), degree 4.
    expect(check(5).pairs.size).toBe(10);
    for (let n = 2; n <= 5; n++) check(n);
  });

  it('numbers links from the IPv4 pool up to 128 links (N = 64), from IPv6 beyond', () => {
    expect(ipv4Fits(20)).toBe(true);
    expect(ipv4Fits(64)).toBe(true);
    expect(ipv4Fits(65)).toBe(false);
    expect(ipv4Fits(100)).toBe(false);
  });
});
