// How long a large Node process (an agent host's size: ~800 MB resident)
// takes to make N named namespaces by spawning `ip netns add` and by
// netnsCreate (native/netnsmake.c), both at the same concurrency; each batch
// is deleted again (timed too: `ip netns del` against netnsDel).
// Run as root: npx tsx scripts/netns-create-bench.ts [count=500] [concurrency=16] [rssMb=800]
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { netnsCreate, netnsDel, netnsExists } from '../src/netlink/netns.js';

const run = promisify(execFile);
const [count = 500, conc = 16, rssMb = 800] = process.argv.slice(2).map(Number);

// Resident memory the size of an agent host: allocated and every page touched.
const ballast = Buffer.allocUnsafe(rssMb * 2 ** 20);
ballast.fill(1);

async function pool(names: string[], fn: (n: string) => Promise<unknown>): Promise<number> {
  const queue = [...names];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => { for (let n = queue.shift(); n; n = queue.shift()) await fn(n); }));
  return performance.now() - t0;
}

const names = (tag: string): string[] => Array.from({ length: count }, (_, i) => `vnb-${process.pid}-${tag}-${i}`);
const all: string[] = [];
const result: Record<string, number> = {};
try {
  const a = names('ip');
  all.push(...a);
  result.spawn_add_ms = await pool(a, (n) => run('ip', ['netns', 'add', n]));
  result.spawn_del_ms = await pool(a, (n) => run('ip', ['netns', 'del', n]));
  const b = names('nat');
  all.push(...b);
  result.native_add_ms = await pool(b, async (n) => { if (!await netnsCreate(n)) throw new Error(`${n} exists`); });
  result.native_del_ms = await pool(b, (n) => netnsDel(n));
} finally {
  for (const n of all) if (netnsExists(n)) await run('ip', ['netns', 'del', n]).catch(() => undefined);
}
const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
console.log(JSON.stringify({ count, concurrency: conc, rss_mb: rss, ...Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Math.round(v)])),
  add_speedup: +(result.spawn_add_ms! / result.native_add_ms!).toFixed(1) }));
void ballast;
