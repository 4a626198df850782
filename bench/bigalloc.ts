// npm run bench -- bigalloc [--links 10000] [--trials 3] [--every-ms 10]
//
// Whether one big request stalls everyone else (issue 12, "Big requests must
// not stall everyone"). A controller in this process (embedded SQLite store,
// the lab pools, limits.links_per_slice raised to 20,000, the rate limit out
// of the way) on a plaintext unix socket whose every caller is the bench's AM;
// four nodes registered as in-process agents that accept any desired state.
// Two clients, each in a worker thread of its own (its own event loop and
// gRPC channel, so that encoding a 10,000-link request or decoding its
// manifest never runs on the loop being measured):
//   prober     calls Status of a small slice (2 links) every --every-ms on a
//              fixed schedule (open loop: a stalled controller shows in every
//              call it delayed), from before the big Allocate is sent until
//              its answer is in;
//   allocator  one Allocate of --links VXLAN links with IPv6 (400 routers over
//              the 4 nodes), then a Status of that slice, then its Delete.
// Per trial (one untimed warm-up of a tenth of the size first): the
// prober's calls' p99 and max (other_status_p99_ms, other_status_max_ms),
// the Allocate's wall time (allocate_10k_ms), the longest the controller's
// event loop was held (loop_block_max_ms: the largest gap of a 5 ms interval
// timer, minus 5; loop_delay_max_ms from perf_hooks' monitorEventLoopDelay
// for comparison); the big slice's Status and Delete (status_big_ms,
// delete_big_ms). The JSON line has the median over trials of each, and every
// trial's figures. Progress on stderr; the last stdout line is JSON.
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { startController } from '../src/api/controller-server.js';
import { connect } from '../src/api/client.js';
import type { AllocateRequest } from '../src/api/gen/visp/v1/AllocateRequest.js';
import { LAB_POOLS } from '../src/api/lab-pools.js';
import { BENCH_AM } from './lib/bench-pki.js';
import { log, median, round } from './lib/measure.js';
import { parseOptions } from './lib/options.js';

const NODES = 4;
const ROUTERS = 400;

/** `links` VXLAN links with IPv6 between ROUTERS routers, round-robin over the nodes; the ends of a link are on different nodes. */
function bigTopology(links: number): AllocateRequest['topology'] {
  const nodes = Array.from({ length: ROUTERS }, (_, i) => ({ id: `r${i}`, node: `n${i % NODES}` }));
  return {
    nodes,
    links: Array.from({ length: links }, (_, k) => {
      const a = k % ROUTERS;
      let b = (k * 7 + 1) % ROUTERS;
      if (b % NODES === a % NODES) b = (b + 1) % ROUTERS;
      return { id: `l${k}`, members: [{ node: `r${a}` }, { node: `r${b}` }], encapsulation: 'ENCAPSULATION_VXLAN' as const, ipv6: { enabled: true } };
    }),
  };
}

const smallTopology = (): AllocateRequest['topology'] => bigTopology(2);

/** The nearest-rank quantile q (0..1) of xs. */
function quantile(xs: readonly number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

// ---- the workers ------------------------------------------------------------------

interface WorkerJob { role: 'prober' | 'allocator'; address: string; slice: string; links: number; everyMs: number }
type FromWorker = { ready: true } | { samples: number[]; errors: number } | { allocateMs: number; statusMs: number; deleteMs: number; slivers: number };

async function worker(job: WorkerJob): Promise<void> {
  const api = connect(job.address);
  const port = parentPort!;
  if (job.role === 'prober') {
    for (let i = 0; i < 5; i++) await api.links.status({ slice: job.slice }); // the channel is up
    let stopping = false;
    port.on('message', () => { stopping = true; });
    port.postMessage({ ready: true } satisfies FromWorker);
    const samples: number[] = [];
    let errors = 0;
    const inFlight = new Set<Promise<void>>();
    let next = performance.now();
    while (!stopping) {
      const t = performance.now();
      const p = api.links.status({ slice: job.slice }).then(() => { samples.push(performance.now() - t); }, () => { errors++; }).finally(() => inFlight.delete(p));
      inFlight.add(p);
      next += job.everyMs;
      await sleep(Math.max(0, next - performance.now()));
    }
    await Promise.all(inFlight);
    port.postMessage({ samples, errors } satisfies FromWorker);
  } else {
    const req: AllocateRequest = { slice: job.slice, topology: bigTopology(job.links) };
    await api.links.getVersion({}); // the channel is up
    port.postMessage({ ready: true } satisfies FromWorker);
    await new Promise((resolve) => port.once('message', resolve));
    let t = performance.now();
    const m = await api.links.allocate(req);
    const allocateMs = performance.now() - t;
    t = performance.now();
    await api.links.status({ slice: job.slice });
    const statusMs = performance.now() - t;
    t = performance.now();
    await api.links.delete({ slice: job.slice });
    const deleteMs = performance.now() - t;
    port.postMessage({ allocateMs, statusMs, deleteMs, slivers: m.manifest?.slivers?.length ?? 0 } satisfies FromWorker);
  }
  api.close();
}

// ---- the main thread: the controller, and the trials ------------------------------------

function start(job: WorkerJob): { w: Worker; next: () => Promise<FromWorker> } {
  const w = new Worker(new URL(import.meta.url), { workerData: job });
  const queue: FromWorker[] = [];
  const waiting: Array<(m: FromWorker) => void> = [];
  w.on('message', (m: FromWorker) => { const r = waiting.shift(); if (r) r(m); else queue.push(m); });
  w.on('error', (e) => { log(`worker ${job.role}: ${e.message}`); process.exitCode = 1; });
  return { w, next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r))) };
}

interface Trial {
  other_status_p99_ms: number; other_status_max_ms: number; other_status_calls: number; other_status_errors: number;
  allocate_ms: number; loop_block_max_ms: number; loop_delay_max_ms: number; status_big_ms: number; delete_big_ms: number;
}

async function trial(address: string, links: number, everyMs: number, slice: string): Promise<Trial> {
  const prober = start({ role: 'prober', address, slice: 'other', links: 0, everyMs });
  const allocator = start({ role: 'allocator', address, slice, links, everyMs });
  await prober.next();
  await allocator.next();
  // The loop's longest stall: the largest gap between ticks of a 5 ms timer, and perf_hooks' view.
  let last = performance.now();
  let maxGap = 0;
  // VISP_BENCH_GAPS=FILE: the windows of stalls over 30 ms, as monotonic µs (a --cpu-prof profile's clock), to read what ran in them.
  const gaps: Array<[number, number]> = [];
  const tick = setInterval(() => {
    const t = performance.now();
    if (t - last > 35 && process.env.VISP_BENCH_GAPS) { const end = Number(process.hrtime.bigint() / 1000n); gaps.push([end - (t - last) * 1000, end]); }
    maxGap = Math.max(maxGap, t - last);
    last = t;
  }, 5);
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  await sleep(100); // the prober's baseline calls
  allocator.w.postMessage('go');
  const a = (await allocator.next()) as Extract<FromWorker, { allocateMs: number }>;
  clearInterval(tick);
  if (process.env.VISP_BENCH_GAPS) appendFileSync(process.env.VISP_BENCH_GAPS, gaps.map((g) => `${g[0]} ${g[1]}\n`).join(''));
  h.disable();
  prober.w.postMessage('stop');
  const p = (await prober.next()) as Extract<FromWorker, { samples: number[] }>;
  await Promise.all([prober.w.terminate(), allocator.w.terminate()]);
  if (a.slivers !== links) throw new Error(`the Allocate answered with ${a.slivers} slivers, not ${links}`);
  return {
    other_status_p99_ms: round(quantile(p.samples, 0.99), 1), other_status_max_ms: round(Math.max(...p.samples), 1),
    other_status_calls: p.samples.length, other_status_errors: p.errors,
    allocate_ms: round(a.allocateMs, 0), loop_block_max_ms: round(Math.max(0, maxGap - 5), 1), loop_delay_max_ms: round(h.max / 1e6, 1),
    status_big_ms: round(a.statusMs, 0), delete_big_ms: round(a.deleteMs, 0),
  };
}

async function main(): Promise<void> {
  const o = { links: 10_000, trials: 3, everyMs: 10 };
  parseOptions(process.argv.slice(2), {
    '--links': (v) => { o.links = v.int(10); },
    '--trials': (v) => { o.trials = v.int(); },
    '--every-ms': (v) => { o.everyMs = v.int(); },
  });
  const dir = mkdtempSync(join(tmpdir(), 'visp-bigalloc-'));
  const address = `unix:${join(dir, 'controller.sock')}`;
  const c = await startController({
    listen: [{ address, plaintextIdentity: BENCH_AM }],
    storePath: join(dir, 'store.db'),
    ipam: { ...LAB_POOLS, cooldownMs: 0 },
    limits: { linksPerSlice: Math.max(20_000, o.links), requestBytes: 64 << 20, ratePerAm: { perSecond: 10_000, burst: 10_000 } },
    log: () => undefined,
  });
  try {
    const capabilities = [{ kind: 'vxlan' as const, supported: true }];
    for (let i = 0; i < NODES; i++) {
      await c.controller.agentConnected({ node: `n${i}`, underlay: [`2001:db8:ffff::${i + 1}`], capabilities },
        { peer: 'bench', send: () => undefined, plan: async () => ({ endpoints: [] }), close: () => undefined });
    }
    const api = connect(address);
    await api.links.allocate({ slice: 'other', topology: smallTopology() });
    api.close();
    log(`warm-up: ${Math.ceil(o.links / 10)} links`);
    await trial(address, Math.ceil(o.links / 10), o.everyMs, 'warm');
    const trials: Trial[] = [];
    for (let i = 0; i < o.trials; i++) {
      const t = await trial(address, o.links, o.everyMs, `big${i}`);
      log(`trial ${i + 1}/${o.trials}: ${JSON.stringify(t)}`);
      trials.push(t);
    }
    const med = (k: keyof Trial): number => round(median(trials.map((t) => t[k])), 1);
    process.stdout.write(`${JSON.stringify({
      links: o.links, trials: o.trials, every_ms: o.everyMs,
      other_status_p99_ms: med('other_status_p99_ms'), other_status_max_ms: med('other_status_max_ms'),
      [`allocate_${o.links === 10_000 ? '10k' : o.links}_ms`]: med('allocate_ms'),
      loop_block_max_ms: med('loop_block_max_ms'), loop_delay_max_ms: med('loop_delay_max_ms'),
      status_big_ms: med('status_big_ms'), delete_big_ms: med('delete_big_ms'),
      per_trial: trials,
    })}\n`);
  } finally {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMainThread) {
  main().catch((e: Error) => { log(e.stack ?? e.message); process.exit(1); });
} else {
  worker(workerData as WorkerJob).catch((e: Error) => { log(`worker: ${e.stack ?? e.message}`); process.exit(1); });
}
