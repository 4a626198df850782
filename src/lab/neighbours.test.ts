import { describe, expect, it } from 'vitest';
import { ensureNeighbourRoom, neighboursNeeded } from './neighbours.js';

// The sysctl files are the host's; these cases run on a map (the lab tests and bench lab write the real ones).
const files = (init: Record<string, string>) => {
  const m = new Map(Object.entries(init));
  return { m, read: (p: string) => m.get(p)!, write: (p: string, v: string) => { m.set(p, v); } };
};
const all = (v: string) => Object.fromEntries(['ipv4', 'ipv6'].flatMap((f) => [2, 3].map((n) => [`/proc/sys/net/${f}/neigh/default/gc_thresh${n}`, v])));

describe('room in the kernel neighbour tables for a lab', () => {
  it('counts every member resolving every other member of each link', () => {
    expect(neighboursNeeded([{ members: 2 }, { members: 2 }, { members: 3 }])).toBe(2 + 2 + 6);
    expect(neighboursNeeded(Array.from({ length: 2000 }, () => ({ members: 2 })))).toBe(4000);
  });

  it('a small lab leaves the defaults alone; a big one gets twice its need as the hard limit, never less than there was', () => {
    const f = files(all('1024'));
    expect(ensureNeighbourRoom(200, f)).toEqual([]);
    expect(ensureNeighbourRoom(4000, f)).toEqual([
      'net.ipv4.neigh.default.gc_thresh3 1024 → 8256', 'net.ipv4.neigh.default.gc_thresh2 1024 → 4256',
      'net.ipv6.neigh.default.gc_thresh3 1024 → 8256', 'net.ipv6.neigh.default.gc_thresh2 1024 → 4256',
    ]);
    expect(ensureNeighbourRoom(4000, f)).toEqual([]);
    const big = files(all('100000'));
    expect(ensureNeighbourRoom(4000, big)).toEqual([]);
    expect([...big.m.values()].every((v) => v === '100000')).toBe(true);
  });
});

describe('where the limits cannot be read or raised', () => {
  it('says so for a lab that needs them, stays quiet for one that does not, and never throws', () => {
    const none = { read: (): string => { throw new Error('ENOENT'); }, write: (): void => { throw new Error('EROFS'); } };
    expect(ensureNeighbourRoom(100, none)).toEqual([]);
    expect(ensureNeighbourRoom(4000, none)).toEqual([expect.stringMatching(/^cannot read .*ipv4.*gc_thresh3/), expect.stringMatching(/^cannot read .*ipv6.*gc_thresh3/)]);
    const ro = { read: (): string => '1024', write: (): void => { throw new Error('EROFS'); } };
    expect(ensureNeighbourRoom(4000, ro)[0]).toMatch(/cannot raise net\.ipv4\.neigh\.default\.gc_thresh3 from 1024 to 8256 \(EROFS\)/);
  });
});
