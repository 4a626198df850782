// The lab benchmark's topology: a ring of N routers with a chord from every
// router, so every router has four neighbours and the lab has 2·N links —
// the size issue 17 asks for (1,000 nodes, 2,000 links).

export interface RingLink { id: string; a: number; b: number }

/**
 * The chord stride: long chords (about half way round) keep the diameter
 * small. It must not be 1 or N−1 (a chord would repeat a ring link) nor N/2
 * (chord i and chord i+N/2 would be the same pair reversed); ⌊N/2⌋−1 is
 * neither for N ≥ 6, and 2 is the only choice at N = 5.
 */
export function chordStride(n: number): number | undefined {
  if (n >= 6) return Math.floor(n / 2) - 1;
  return n === 5 ? 2 : undefined;
}

/**
 * Ring i ↔ i+1 (mod N), ids `ring<i>`, plus chords i ↔ i+s (mod N) for
 * every i, ids `chord<i>`: 2·N distinct links for N ≥ 5, every router of
 * degree 4. Smaller labs get what fits without a repeated pair or a
 * self-link: N = 4 the ring and its two diagonals (chord0, chord1), N = 3
 * the triangle, N = 2 one link, N ≤ 1 none.
 */
export function ringChords(n: number): RingLink[] {
  if (n < 2) return [];
  const links: RingLink[] = Array.from({ length: n === 2 ? 1 : n }, (_, i) => ({ id: `ring${i}`, a: i, b: (i + 1) % n }));
  const s = chordStride(n);
  if (s !== undefined) for (let i = 0; i < n; i++) links.push({ id: `chord${i}`, a: i, b: (i + s) % n });
  else if (n === 4) links.push({ id: 'chord0', a: 0, b: 2 }, { id: 'chord1', a: 1, b: 3 });
  return links;
}

/** 192.0.2.0/24 (the lab's local IPv4 pool) holds 128 /31s: up to N = 64 here; bigger labs number their links from 2001:db8::/32 instead. */
export const ipv4Fits = (n: number): boolean => ringChords(n).length <= 128;
