// Room in the kernel's neighbour tables for a big lab. The ARP and IPv6
// neighbour tables are the kernel's, not a namespace's: every namespace's
// entries count against one limit (gc_thresh3, 1,024 by default), set only
// from the host's own namespace. A lab's nodes resolve each other's underlay
// address for every link they share, and its experiments resolve each
// other's link address: about two entries per link member and family. With
// link health probing every link several times a second, none of them is
// ever idle enough to be collected, so past the limit new entries fail
// (ENOBUFS, "neighbor table overflow") and links stay silent though every
// device is built (seen at 300 nodes / 600 links). So lab mode raises the
// limits to what the lab needs, with room to spare; it never lowers them,
// and says what it changed. Only this host-wide setting is touched, and only
// for a lab that needs it: a lab under a few hundred links leaves the
// defaults alone.
import { readFileSync, writeFileSync } from 'node:fs';

const FAMILIES = ['ipv4', 'ipv6'] as const;
const path = (family: string, n: 1 | 2 | 3): string => `/proc/sys/net/${family}/neigh/default/gc_thresh${n}`;

/** Neighbour entries a lab's links take, per family: every member resolves every other member of each link it is on, underlay and experiment side. */
export function neighboursNeeded(links: ReadonlyArray<{ members: number }>): number {
  return links.reduce((n, l) => n + l.members * (l.members - 1), 0);
}

/**
 * Raise the host's neighbour-table limits so `entries` per family fit twice
 * over (the hard limit) and once over the soft one; a limit already higher
 * stays. Returns a sentence for each change, or [] when none was needed.
 */
export function ensureNeighbourRoom(entries: number, files: { read(p: string): string; write(p: string, v: string): void } = fsFiles): string[] {
  // Room for the host's own entries and a second lab of the same size; the soft limit (above it, idle entries are collected) at the lab's own need.
  const want = { 2: entries + 256, 3: 2 * entries + 256 } as const;
  const said: string[] = [];
  for (const f of FAMILIES) {
    for (const n of [3, 2] as const) {
      const p = path(f, n);
      // A kernel or container without the file, or a read-only /proc/sys: said, not fatal (a small lab needs none of it).
      let have: number;
      try { have = Number(files.read(p).trim()); } catch (e) {
        // The kernel's default hard limit is 1,024: below that, nothing to say.
        if (want[3] > 1024 && n === 3) said.push(`cannot read ${p} (${(e as Error).message}); links may stay silent once the tables are full`);
        continue;
      }
      if (!Number.isFinite(have) || have >= want[n]) continue;
      try { files.write(p, String(want[n])); } catch (e) { said.push(`cannot raise net.${f}.neigh.default.gc_thresh${n} from ${have} to ${want[n]} (${(e as Error).message}); links may stay silent once the tables are full`); continue; }
      said.push(`net.${f}.neigh.default.gc_thresh${n} ${have} → ${want[n]}`);
    }
  }
  return said;
}

const fsFiles = { read: (p: string): string => readFileSync(p, 'utf8'), write: (p: string, v: string): void => writeFileSync(p, v) };
