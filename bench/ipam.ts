// npm run bench -- ipam
//
// Medians of 3, each run on a fresh SQLite store file (WAL, synchronous=FULL,
// so every allocation below is a durable commit), after a few untimed rounds
// so that V8 has optimized the hot paths, as in a controller that has been up
// for a while:
//   allocate_1000_link_topology_ms  one slice, 1,000 point-to-point links:
//                                   a block, 1,000 /127 subnets, 2,000 addresses,
//                                   1,000 GRE keys and a group id, one transaction
//   release_1000_link_topology_ms   releasing that slice (block and runs into cooldown)
//   single_link_allocs_per_s        10,000 separate allocations of one-link slices
// Progress goes to stderr; the last line on stdout is the JSON result.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIpam, type Ipam, type LinkSpec } from '../src/ipam/index.js';
import { openSqliteStore } from '../src/store/index.js';
import { median, round } from './lib/measure.js';

const RUNS = 3;
const WARM_UP_ROUNDS = 5;
const BIG_LINKS = 1000;
const SINGLES = 10_000;

const p2p = (name: string): LinkSpec => ({
  name,
  interfaces: [{ name: `${name}:a` }, { name: `${name}:b` }],
  ipv6: { class: 'local' },
  identifier: 'greKey',
});
const bigTopology = Array.from({ length: BIG_LINKS }, (_, i) => p2p(`l${i}`));

async function withStore<T>(fn: (ipam: Ipam) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'visp-bench-ipam-'));
  const store = await openSqliteStore(join(dir, 'ipam.db'));
  try {
    const ipam = createIpam({ store });
    await ipam.configure({ pools: [{ name: 'bench-v6', prefix: '2001:db8::/32', class: 'local' }] });
    return await fn(ipam);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bigTopologyRun(): Promise<{ allocMs: number; releaseMs: number }> {
  return withStore(async (ipam) => {
    const t0 = performance.now();
    const a = await ipam.allocate({ slice: 'bench-big', links: bigTopology });
    const t1 = performance.now();
    await ipam.release('bench-big');
    const t2 = performance.now();
    if (a.links.length !== BIG_LINKS) throw new Error('allocation incomplete');
    return { allocMs: t1 - t0, releaseMs: t2 - t1 };
  });
}

async function singlesRun(): Promise<number> {
  return withStore(async (ipam) => {
    const t0 = performance.now();
    for (let i = 0; i < SINGLES; i++) {
      await ipam.allocate({ slice: `bench-${i}`, links: [p2p('l')] });
      if ((i + 1) % 2500 === 0) process.stderr.write(`  ${i + 1}/${SINGLES}\n`);
    }
    return SINGLES / ((performance.now() - t0) / 1000);
  });
}

async function main(): Promise<void> {
  process.stderr.write(`ipam bench: ${WARM_UP_ROUNDS} warm-up rounds\n`);
  for (let i = 0; i < WARM_UP_ROUNDS; i++) await bigTopologyRun();
  const alloc: number[] = [];
  const release: number[] = [];
  const singles: number[] = [];
  for (let r = 1; r <= RUNS; r++) {
    const big = await bigTopologyRun();
    alloc.push(big.allocMs);
    release.push(big.releaseMs);
    process.stderr.write(`run ${r}/${RUNS}: 1000-link allocate ${big.allocMs.toFixed(1)} ms, release ${big.releaseMs.toFixed(1)} ms\n`);
  }
  for (let r = 1; r <= RUNS; r++) {
    process.stderr.write(`run ${r}/${RUNS}: ${SINGLES} single-link allocations\n`);
    const rate = await singlesRun();
    singles.push(rate);
    process.stderr.write(`run ${r}/${RUNS}: ${rate.toFixed(0)} allocations/s\n`);
  }
  console.log(
    JSON.stringify({
      allocate_1000_link_topology_ms: round(median(alloc), 1),
      single_link_allocs_per_s: round(median(singles), 0),
      release_1000_link_topology_ms: round(median(release), 1),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
