// The lab's controller as its own process, embedded SQLite store. It listens
// on a plaintext unix socket whose every caller is the bench's AM (BENCH_AM),
// and with --tls (--ca, --cert, --key: a controller certificate) also on each
// --tls-listen address with mutual TLS (agents, operators, other AMs). The
// lab pools, with cooldown off: a benchmark allocates the same space again a
// few seconds after deleting it (a /24 slice at N=100 takes the whole local
// IPv4 pool). Once listening it prints one line "bench-listening ADDR…"
// (a TCP port 0 replaced by the one bound).
//   node dist/bench/lib/controller-proc.js --listen unix:/path --store /dir/store.db
//     [--tls-listen unix:/path2 --tls-listen 127.0.0.1:0 --ca F --cert F --key F] [--trace]
import { parseArgs } from 'node:util';
import { startController } from '../../src/api/controller-server.js';
import { LAB_POOLS } from '../../src/api/lab-pools.js';
import { Controller } from '../../src/controller/controller.js';
import { BENCH_AM } from './bench-pki.js';
import { traceMethod, traceStalls } from './trace.js';

const log = (l: string): void => { process.stderr.write(`${new Date().toISOString()} ${l}\n`); };

const { values: v } = parseArgs({
  options: {
    listen: { type: 'string' }, store: { type: 'string' }, 'tls-listen': { type: 'string', multiple: true },
    ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, trace: { type: 'boolean' },
  },
  strict: true,
});
const tls = v.ca && v.cert && v.key ? { ca: v.ca, cert: v.cert, key: v.key } : undefined;
if (!v.listen || !v.store || (v['tls-listen']?.length && !tls)) {
  process.stderr.write('usage: controller-proc --listen ADDRESS --store FILE [--tls-listen ADDRESS… --ca F --cert F --key F] [--trace]\n');
  process.exit(2);
}

// --trace: time the verbs, store commits and pushes, and event-loop stalls (bench instrumentation only).
if (v.trace) {
  const p = Controller.prototype as unknown as object;
  for (const m of ['allocate', 'provision', 'delete', 'shutdown']) traceMethod(p, m, (a) => String(a[0] && typeof a[0] === 'object' ? (a[0] as { slice: string }).slice : a[0]), log);
  traceMethod(p, 'save', (a) => String(a[0]), log);
  traceMethod(p, 'remove', (a) => String(a[0]), log);
  traceMethod(p, 'push', (a) => String(a[0]), log);
  traceMethod(p, 'status', (a) => String(a[0]), log);
  traceStalls(log);
}

const c = await startController({
  listen: [{ address: v.listen, plaintextIdentity: BENCH_AM }, ...(v['tls-listen'] ?? []).map((address) => ({ address }))],
  ...(tls ? { tls } : {}),
  storePath: v.store, ipam: { ...LAB_POOLS, cooldownMs: 0 }, log,
});
process.stdout.write(`bench-listening ${c.addresses.join(' ')}\n`);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    c.close().catch((e: Error) => log(`close: ${e.message}`)).finally(() => process.exit(0));
  });
}
