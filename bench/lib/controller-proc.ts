// The lab's controller as its own process, embedded SQLite store, listening
// on a unix socket. The lab pools, with cooldown off: a benchmark allocates
// the same space again a few seconds after deleting it (a /24 slice at N=100
// takes the whole local IPv4 pool).
//   node dist/bench/lib/controller-proc.js --listen unix:/path --store /dir/store.db
import { startController } from '../../src/api/controller-server.js';
import { LAB_POOLS } from '../../src/api/lab-pools.js';
import { Controller } from '../../src/controller/controller.js';
import { traceMethod, traceStalls } from './trace.js';

/** Benchmarks talk to this controller as one AM over its plaintext unix socket (the tls benchmark compares that with mTLS). */
export const BENCH_AM = 'spiffe://visp.test/am/bench';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

const listen = arg('listen');
const storePath = arg('store');
if (!listen || !storePath) {
  process.stderr.write('usage: controller-proc --listen ADDRESS --store FILE\n');
  process.exit(2);
}
const log = (l: string): void => { process.stderr.write(`${new Date().toISOString()} ${l}\n`); };

// --trace: time the verbs, store commits and pushes, and event-loop stalls (bench instrumentation only).
if (process.argv.includes('--trace')) {
  const p = Controller.prototype as unknown as object;
  for (const m of ['allocate', 'provision', 'delete', 'shutdown']) traceMethod(p, m, (a) => String(a[0] && typeof a[0] === 'object' ? (a[0] as { slice: string }).slice : a[0]), log);
  traceMethod(p, 'save', (a) => String(a[0]), log);
  traceMethod(p, 'remove', (a) => String(a[0]), log);
  traceMethod(p, 'push', (a) => String(a[0]), log);
  traceMethod(p, 'status', (a) => String(a[0]), log);
  traceStalls(log);
}

const c = await startController({ listen: [{ address: listen, plaintextIdentity: BENCH_AM }], storePath, ipam: { ...LAB_POOLS, cooldownMs: 0 }, log });
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    c.close().catch((e: Error) => log(`close: ${e.message}`)).finally(() => process.exit(0));
  });
}
