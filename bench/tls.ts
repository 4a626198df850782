// npm run bench -- tls [--trials 5] [--reps 5] [--calls 300] [--rate 40] [--baseline-s 5]
//     [--flood-links 500] [--flood-workers 16] [--flood-requests 2000] [--flood-s 10] [--trace] [--cpu-prof] [--keep-logs]
//
// What mutual TLS costs an aggregate manager, and whether one AM can starve
// another. One lab (bench/lib/lab-env.ts: 3 node namespaces on an emulated
// underlay, one agent process per node over mTLS with its node
// certificate) and ONE controller process serving, at once:
//   plain    the plaintext unix socket (every caller is the bench's AM),
//   tls      mutual TLS on a unix socket (same transport as plain: the
//            difference is TLS alone),
//   tls_tcp  mutual TLS on TCP 127.0.0.1 (how an AM on another host connects).
// The controller is its own process (not in this one) so that the clients'
// work (TLS on the client side, encoding the flood's large requests) never
// runs on the event loop being measured. Each transport is a different AM
// (its own certificate, or the plaintext identity), so each has its own rate
// bucket (limits.rate_per_am: 50/s, burst 200, the defaults, kept on
// purpose: the flood meets them as a real one would). Every client keeps one
// channel for the whole run: the TLS handshake happens once, as for a
// long-lived AM.
//
// 1. Allocate+Provision round trip: per trial and transport (order rotated
//    every trial), a 3-router ring of 3 VXLAN links with IPv4 /31s across the
//    3 nodes: the Allocate and Provision RPCs' wall time together
//    (allocate_provision_ms_*); separately, Allocate sent → Status READY
//    (polled every 25 ms; ready_ms_*). Then Delete, and wait until the
//    agents removed the slice's namespaces. One untimed warm-up per transport.
// 2. Status latency: one READY slice per transport; `reps` repetitions of
//    `calls` rounds; a round is one Status call per transport, back to back,
//    in an order rotated every round (drift lands on all alike), rounds
//    started `rate` times a second (below the per-AM rate limit). p50 per
//    repetition, the TLS/plain ratio per repetition, the median of those;
//    p99 over all calls of a transport.
// 3. Flood: AM "other" holds a READY slice; a separate process
//    (bench/lib/status-prober.ts) calls its Status every 25 ms on a fixed
//    schedule over mTLS/TCP, first for `baseline-s` seconds alone, then while
//    AM "flood" (its own certificate, mTLS/TCP) runs `flood-workers`
//    concurrent loops, half Allocating slices of `flood-links` links (30
//    routers over 3 nodes, an IPv6 /127 each), half calling Status on its slices,
//    until `flood-requests` calls or `flood-s` seconds. Before it, one such
//    Allocate and one Status of its slice, each alone (flood_alone_*_ms):
//    about how long one flood call holds the controller's event loop.
//    The flood's slices are
//    never provisioned; the lab is thrown away afterwards.
// --trace runs the controller with bench/lib/trace.ts (verbs, store commits
// and event-loop stalls over 50 ms in its log, summarised here for the flood
// window): slower, so its figures are not the benchmark's. --cpu-prof writes
// the controller's V8 CPU profile into the kept log directory.
// Progress on stderr; the last stdout line is JSON.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { VispClient } from '../src/api/client.js';
import type { AllocateRequest } from '../src/api/gen/visp/v1/AllocateRequest.js';
import { tlsArgs } from './lib/bench-pki.js';
import { monotonicUs, summarizeProfile, type FrameTime } from './lib/cpuprofile.js';
import { cleanupLabsOnSignal, Lab } from './lib/lab-env.js';
import { log, median, now, round, settle } from './lib/measure.js';
import { parseOptions } from './lib/options.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench

interface Options {
  trials: number; reps: number; calls: number; rate: number; baselineS: number;
  floodLinks: number; floodWorkers: number; floodRequests: number; floodS: number;
  trace: boolean; cpuProf: boolean; keepLogs: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    trials: 5, reps: 5, calls: 300, rate: 40, baselineS: 5,
    floodLinks: 500, floodWorkers: 16, floodRequests: 2000, floodS: 10, trace: false, cpuProf: false, keepLogs: false,
  };
  parseOptions(argv, {
    '--trials': (v) => { o.trials = v.int(); },
    '--reps': (v) => { o.reps = v.int(); },
    '--calls': (v) => { o.calls = v.int(10); },
    '--rate': (v) => { o.rate = v.int(); },
    '--baseline-s': (v) => { o.baselineS = v.int(); },
    '--flood-links': (v) => { o.floodLinks = v.int(); },
    '--flood-workers': (v) => { o.floodWorkers = v.int(2); },
    '--flood-requests': (v) => { o.floodRequests = v.int(); },
    '--flood-s': (v) => { o.floodS = v.int(); },
    '--trace': () => { o.trace = true; },
    '--cpu-prof': () => { o.cpuProf = true; o.keepLogs = true; },
    '--keep-logs': () => { o.keepLogs = true; },
  });
  if (o.rate > 45) throw new Error('--rate: at most 45 rounds a second (each AM may make 50 calls a second)');
  return o;
}

const NODES = 3;
const TRANSPORTS = ['plain', 'tls', 'tls_tcp'] as const;
type TransportName = typeof TRANSPORTS[number];
interface Transport { name: TransportName; short: string; api: VispClient }

/** The nearest-rank quantile q (0..1) of xs. */
function quantile(xs: readonly number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** The order of `xs` rotated by k. */
const rotate = <T>(xs: readonly T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length]!);

const ms = (x: number, d = 2): number => round(x, d);

/** Three routers, one per node, in a ring of VXLAN links with IPv4 /31s: small, but Provision builds real tunnels on every node. */
function ring(slice: string): AllocateRequest {
  const routers = Array.from({ length: NODES }, (_, i) => ({ id: `r${i}`, node: `n${i}` }));
  return {
    slice,
    topology: {
      nodes: routers,
      links: routers.map((r, i) => ({
        id: `l${i}`, members: [{ node: r.id }, { node: routers[(i + 1) % NODES]!.id }],
        encapsulation: 'ENCAPSULATION_VXLAN', addressClass: 'ADDRESS_CLASS_LOCAL', ipv4: { enabled: true },
      })),
    },
  };
}

/**
 * `links` VXLAN links between 30 routers spread over the nodes (pairs on
 * different nodes, in turn), each with an IPv6 /127 (IPv4 would need more
 * than the lab's /24; a link with neither family gets IPv4).
 */
function floodTopology(links: number): AllocateRequest['topology'] {
  const R = 30;
  const nodes = Array.from({ length: R }, (_, i) => ({ id: `r${i}`, node: `n${i % NODES}` }));
  const pairs: Array<[number, number]> = [];
  for (let a = 0; a < R; a++) for (let b = a + 1; b < R; b++) if (a % NODES !== b % NODES) pairs.push([a, b]);
  return {
    nodes,
    links: Array.from({ length: links }, (_, k) => {
      const [a, b] = pairs[k % pairs.length]!;
      return { id: `l${k}`, members: [{ node: `r${a}` }, { node: `r${b}` }], encapsulation: 'ENCAPSULATION_VXLAN' as const, ipv6: { enabled: true } };
    }),
  };
}

/** A process's time on a CPU and waiting for one (runnable, not running) so far, seconds (/proc/PID/schedstat). */
function schedstat(pid: number): { run: number; wait: number } {
  const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { run: run! / 1e9, wait: wait! / 1e9 };
}

/**
 * Where the controller's main thread is, sampled every `everyMs`: R (on a
 * CPU or waiting for one), D (uninterruptible: disk, with the top of its
 * kernel stack) or S (sleeping: the event loop idle, or waiting on a lock).
 */
class MainThreadSampler {
  readonly counts = new Map<string, number>();
  samples = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(pid: number, everyMs = 20) {
    this.timer = setInterval(() => {
      let st: string;
      try { st = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return; }
      let state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
      if (state === 'D') {
        try { state += ` ${readFileSync(`/proc/${pid}/stack`, 'utf8').split('\n').slice(0, 3).map((l) => l.replace(/^\[<[0-9a-f]+>\] /, '').replace(/\+0x.*$/, '')).join(' < ')}`; } catch { /* no stack */ }
      }
      this.samples++;
      this.counts.set(state, (this.counts.get(state) ?? 0) + 1);
    }, everyMs);
  }
  stop(): Record<string, number> {
    clearInterval(this.timer);
    return Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, round(n / Math.max(1, this.samples), 2)]));
  }
}

const codeOf = (e: unknown): string => grpcStatus[(e as ServiceError).code] ?? 'UNKNOWN';

async function waitReady(api: VispClient, slice: string): Promise<void> {
  const t = now();
  for (;;) {
    const m = (await api.links.status({ slice })).manifest!;
    if (m.operationalState === 'OPERATIONAL_STATE_READY') return;
    const failed = m.slivers.find((s) => s.operationalState === 'OPERATIONAL_STATE_FAILED');
    if (failed) throw new Error(`${slice}: ${failed.id} failed: ${failed.error}`);
    if (now() - t > 60) throw new Error(`${slice}: not READY after 60 s`);
    await sleep(25);
  }
}

/** Until no namespace of the slice is left (the agents remove the experiment namespaces they created). */
async function waitGone(slice: string): Promise<void> {
  const t = now();
  while (readdirSync('/run/netns').some((n) => n.startsWith(`visp-${slice}:`))) {
    if (now() - t > 60) throw new Error(`${slice}: namespaces still there 60 s after Delete`);
    await sleep(25);
  }
}

let unsettled = 0;
async function quiet(): Promise<void> {
  if (!(await settle())) unsettled++;
}

interface RoundTrip { allocate: number; provision: number; ready: number }

async function roundTrip(lab: Lab, t: Transport, slice: string): Promise<RoundTrip> {
  for (let i = 0; i < NODES; i++) lab.expNamespaces.add(`visp-${slice}-r${i}`);
  const req = ring(slice);
  await quiet();
  const t0 = now();
  await t.api.links.allocate(req);
  const t1 = now();
  await t.api.links.provision({ slice });
  const t2 = now();
  await waitReady(t.api, slice);
  const t3 = now();
  await t.api.links.delete({ slice });
  await waitGone(slice);
  return { allocate: (t1 - t0) * 1000, provision: (t2 - t1) * 1000, ready: (t3 - t0) * 1000 };
}

/** Phase 1: the round trips, transports rotated per trial, after one warm-up each. */
async function roundTrips(lab: Lab, ts: Transport[], tag: string, o: Options): Promise<Record<TransportName, RoundTrip[]>> {
  const out = { plain: [], tls: [], tls_tcp: [] } as Record<TransportName, RoundTrip[]>;
  for (const t of ts) await roundTrip(lab, t, `w${tag}${t.short}`);
  for (let k = 1; k <= o.trials; k++) {
    const line: string[] = [];
    for (const t of rotate(ts, k)) {
      const r = await roundTrip(lab, t, `a${tag}${t.short}${k}`);
      out[t.name].push(r);
      line.push(`${t.name} ${(r.allocate + r.provision).toFixed(1)} ms (READY ${r.ready.toFixed(0)} ms)`);
    }
    log(`  trial ${k}: Allocate+Provision ${line.join(', ')}`);
  }
  return out;
}

/** Phase 2: Status over long-lived channels, one call per transport per round, `rate` rounds a second. */
async function statusLatency(lab: Lab, ts: Transport[], tag: string, o: Options): Promise<{ reps: Array<Record<TransportName, number[]>>; refused: number }> {
  for (const t of ts) {
    const slice = `s${tag}${t.short}`;
    for (let i = 0; i < NODES; i++) lab.expNamespaces.add(`visp-${slice}-r${i}`);
    await t.api.links.allocate(ring(slice));
    await t.api.links.provision({ slice });
    await waitReady(t.api, slice);
  }
  await sleep(2000); // bucket refill after the polling
  const reps: Array<Record<TransportName, number[]>> = [];
  let refused = 0;
  const period = 1000 / o.rate;
  for (let r = 1; r <= o.reps; r++) {
    await quiet();
    const xs = { plain: [], tls: [], tls_tcp: [] } as Record<TransportName, number[]>;
    let next = performance.now();
    for (let i = 0; i < o.calls; i++) {
      for (const t of rotate(ts, i)) {
        const s = performance.now();
        try {
          await t.api.links.status({ slice: `s${tag}${t.short}` });
          xs[t.name].push(performance.now() - s);
        } catch (e) {
          if (codeOf(e) !== 'RESOURCE_EXHAUSTED') throw e;
          refused++;
        }
      }
      next += period;
      await sleep(Math.max(0, next - performance.now()));
    }
    reps.push(xs);
    log(`  rep ${r}: Status p50 ${TRANSPORTS.map((n) => `${n} ${quantile(xs[n], 0.5).toFixed(3)}`).join(', ')} ms; p99 ${TRANSPORTS.map((n) => `${n} ${quantile(xs[n], 0.99).toFixed(3)}`).join(', ')} ms`);
  }
  return { reps, refused };
}

/**
 * What one Status call costs the controller, per transport, independent of
 * how busy the machine is: the controller's main thread's time on a CPU
 * (schedstat) over `n` back-to-back calls, divided by n; blocks in rotated
 * order, `rounds` times, the median per transport (µs).
 */
async function statusCpu(lab: Lab, ts: Transport[], tag: string, rounds = 3, n = 100): Promise<Record<TransportName, number>> {
  const per = { plain: [], tls: [], tls_tcp: [] } as Record<TransportName, number[]>;
  const pid = lab.controller!.pid;
  for (let r = 0; r < rounds; r++) {
    for (const t of rotate(ts, r)) {
      await sleep(n * 1000 / 45); // this AM's rate bucket refills
      const a = schedstat(pid).run;
      for (let i = 0; i < n; i++) await t.api.links.status({ slice: `s${tag}${t.short}` });
      per[t.name].push(((schedstat(pid).run - a) / n) * 1e6);
    }
  }
  return Object.fromEntries(TRANSPORTS.map((x) => [x, Math.round(median(per[x]))])) as Record<TransportName, number>;
}

interface Probe { samples: Array<[number, number]>; errors: Record<string, number> }

/** The other AM's prober as its own process: resolves `ready` when it is calling, `stop()` ends it and yields its samples. */
function startProber(lab: Lab, address: string, slice: string): { ready: Promise<void>; stop(): Promise<Probe> } {
  const child = spawn(process.execPath, [join(here, 'lib', 'status-prober.js'), '--address', address, ...tlsArgs(lab.pki!.files('am', 'other')), '--slice', slice, '--every-ms', '25'],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  let result: Probe | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    lines.on('line', (l) => {
      if (l === 'ready') resolve();
      else if (l.startsWith('{')) result = JSON.parse(l) as Probe;
    });
    void exited.then((c) => reject(new Error(`status prober exited (${c}) before it was ready`)));
  });
  return {
    ready,
    async stop() {
      child.stdin!.end('stop\n');
      const code = await exited;
      if (!result) throw new Error(`status prober exited (${code}) without a result`);
      return result;
    },
  };
}

interface Flood {
  requests: number; seconds: number; allocatesOk: number; statusOk: number;
  rateRefused: number; limitRefused: Record<string, number>; otherErrors: Record<string, number>;
  /** The first message of each error code that was not a limit's refusal. */
  errorSamples: Record<string, string>;
  allocateMs: number[]; statusMs: number[];
}

/** Phase 3's load: AM "flood" over mTLS/TCP, `floodWorkers` loops at once, bounded in calls and time. */
async function flood(api: VispClient, tag: string, o: Options): Promise<Flood> {
  const topology = floodTopology(o.floodLinks);
  const f: Flood = { requests: 0, seconds: 0, allocatesOk: 0, statusOk: 0, rateRefused: 0, limitRefused: {}, otherErrors: {}, errorSamples: {}, allocateMs: [], statusMs: [] };
  const mine: string[] = [];
  let k = 0;
  const t0 = now();
  const deadline = t0 + o.floodS;
  const worker = async (allocating: boolean): Promise<void> => {
    while (f.requests < o.floodRequests && now() < deadline) {
      f.requests++;
      const slice = allocating ? `f${tag}${k++}` : (mine[Math.floor(Math.random() * mine.length)] ?? `f${tag}0`);
      const s = performance.now();
      try {
        if (allocating) {
          await api.links.allocate({ slice, topology });
          f.allocatesOk++;
          f.allocateMs.push(performance.now() - s);
          mine.push(slice);
        } else {
          await api.links.status({ slice });
          f.statusOk++;
          f.statusMs.push(performance.now() - s);
        }
      } catch (e) {
        const code = codeOf(e);
        const details = (e as ServiceError).details ?? '';
        if (code === 'RESOURCE_EXHAUSTED' && details.startsWith('limits.rate_per_am')) f.rateRefused++;
        else if (code === 'RESOURCE_EXHAUSTED') { const l = /^(limits\.[a-z_]+)/.exec(details)?.[1] ?? 'other'; f.limitRefused[l] = (f.limitRefused[l] ?? 0) + 1; }
        else { f.otherErrors[code] = (f.otherErrors[code] ?? 0) + 1; f.errorSamples[code] ??= details; }
      }
    }
  };
  await Promise.all(Array.from({ length: o.floodWorkers }, (_, i) => worker(i % 2 === 0)));
  f.seconds = now() - t0;
  return f;
}

const probeStats = (p: Probe): { p50: number; p99: number; max: number; n: number } => {
  const xs = p.samples.map((s) => s[1]);
  return { p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: Math.max(...xs), n: xs.length };
};

/** --trace: the controller's stalls and verb timings that fall in [from, to] (epoch ms). */
function traceSummary(lab: Lab, from: number, to: number): Record<string, unknown> {
  const lines = readFileSync(lab.controller!.logFile, 'utf8').split('\n');
  const by = new Map<string, number[]>();
  for (const l of lines) {
    const m = /trace (\S+) (.*?) start ([\d.]+) end ([\d.]+)$/.exec(l);
    if (!m || Number(m[3]) < from || Number(m[3]) > to) continue;
    const xs = by.get(m[1]!) ?? [];
    xs.push(Number(m[4]) - Number(m[3]));
    by.set(m[1]!, xs);
  }
  const out: Record<string, unknown> = {};
  for (const [what, xs] of by) {
    out[what] = { n: xs.length, total_ms: Math.round(xs.reduce((a, b) => a + b, 0)), p50_ms: ms(quantile(xs, 0.5), 1), max_ms: ms(Math.max(...xs), 1) };
  }
  return out;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  cleanupLabsOnSignal();
  if (process.getuid?.() !== 0) throw new Error('the tls benchmark needs root (network namespaces for the lab)');
  const tag = randomBytes(2).toString('hex');
  const t = now();
  log(`tls benchmark: ${NODES}-node lab, one controller process: plaintext unix socket, mTLS unix socket, mTLS TCP 127.0.0.1`);
  const lab = new Lab(NODES);
  lab.keepLogs = o.keepLogs;
  try {
    await lab.startController({
      trace: o.trace, tlsListen: ['127.0.0.1:0'],
      identities: ['bench-tls', 'bench-tcp', 'other', 'flood'].map((name) => ({ role: 'am' as const, name })),
      ...(o.cpuProf ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${lab.dir}`] } : {}),
    });
    const tcp = lab.addresses.find((a) => !a.startsWith('unix:'));
    if (!tcp) throw new Error(`the controller bound no TCP address (${lab.addresses.join(', ')})`);
    await lab.startAgents({ timeoutMs: 60_000 });
    log(`  controller ${lab.addresses.join(', ')}; ${NODES} agents connected over mTLS`);
    const ts: Transport[] = [
      { name: 'plain', short: 'p', api: lab.api },
      { name: 'tls', short: 't', api: lab.connectAs('am', 'bench-tls') },
      { name: 'tls_tcp', short: 'c', api: lab.connectAs('am', 'bench-tcp', tcp) },
    ];
    for (const x of ts) await x.api.links.getVersion({}); // channels up (TLS handshakes) before anything is timed

    log(`round trips: ${o.trials} trials per transport (after one warm-up each)`);
    const rt = await roundTrips(lab, ts, tag, o);
    log(`Status: ${o.reps} repetitions × ${o.calls} rounds at ${o.rate} rounds/s`);
    const st = await statusLatency(lab, ts, tag, o);
    const cpu = await statusCpu(lab, ts, tag);
    log(`  controller CPU per Status call (main thread, µs): ${TRANSPORTS.map((n) => `${n} ${cpu[n]}`).join(', ')}`);

    log(`flood: AM "flood" ${o.floodWorkers} concurrent loops (Allocate of ${o.floodLinks} links / Status), ≤ ${o.floodRequests} calls, ≤ ${o.floodS} s; AM "other" Status every 25 ms`);
    const other = lab.connectAs('am', 'other', tcp);
    const oslice = `o${tag}`;
    for (let i = 0; i < NODES; i++) lab.expNamespaces.add(`visp-${oslice}-r${i}`);
    await other.links.allocate(ring(oslice));
    await other.links.provision({ slice: oslice });
    await waitReady(other, oslice);
    await quiet();
    const base = startProber(lab, tcp, oslice);
    await base.ready;
    await sleep(o.baselineS * 1000);
    const baseline = probeStats(await base.stop());
    log(`  other AM's Status alone: p50 ${baseline.p50.toFixed(2)} ms, p99 ${baseline.p99.toFixed(2)} ms, max ${baseline.max.toFixed(1)} ms (${baseline.n} calls)`);
    await quiet();
    const floodApi = lab.connectAs('am', 'flood', tcp);
    await floodApi.links.getVersion({});
    // What one flood call costs the controller alone (it holds the event loop about that long): 3 Allocates, 3 Status, one at a time.
    // Wall time, and the controller's main thread's time on a CPU (what the call costs it, however busy the machine).
    const unit = { allocate: [] as number[], status: [] as number[], allocateCpu: [] as number[], statusCpu: [] as number[] };
    const floodTopo = floodTopology(o.floodLinks);
    const cpid = lab.controller!.pid;
    const aloneT0 = monotonicUs();
    for (let i = 0; i < 3; i++) {
      const r0 = schedstat(cpid).run;
      const s0 = performance.now();
      await floodApi.links.allocate({ slice: `u${tag}${i}`, topology: floodTopo });
      unit.allocate.push(performance.now() - s0);
      unit.allocateCpu.push((schedstat(cpid).run - r0) * 1000);
    }
    const aloneT1 = monotonicUs();
    for (let i = 0; i < 3; i++) {
      const r0 = schedstat(cpid).run;
      const s1 = performance.now();
      await floodApi.links.status({ slice: `u${tag}${i}` });
      unit.status.push(performance.now() - s1);
      unit.statusCpu.push((schedstat(cpid).run - r0) * 1000);
    }
    const aloneT2 = monotonicUs();
    log(`  one flood call alone: Allocate of ${o.floodLinks} links ${median(unit.allocate).toFixed(1)} ms (controller CPU ${median(unit.allocateCpu).toFixed(1)} ms), Status of it ${median(unit.status).toFixed(1)} ms (CPU ${median(unit.statusCpu).toFixed(1)} ms) (medians of 3)`);
    await quiet();
    const c0 = lab.stats().controller.cpuS;
    const prober = startProber(lab, tcp, oslice);
    await prober.ready;
    const ss0 = schedstat(cpid);
    const waits = new MainThreadSampler(cpid);
    const w0 = performance.timeOrigin + performance.now();
    const m0 = monotonicUs();
    const fl = await flood(floodApi, tag, o);
    const m1 = monotonicUs();
    const w1 = performance.timeOrigin + performance.now();
    const mainThread = waits.stop();
    const ss1 = schedstat(cpid);
    const probe = await prober.stop();
    const c1 = lab.stats().controller.cpuS;
    const sched = { run: ss1.run - ss0.run, wait: ss1.wait - ss0.wait };
    const during = probeStats(probe);
    const slow = probe.samples.filter((s) => s[0] >= w0 && s[0] <= w1).sort((a, b) => b[1] - a[1]).slice(0, 5);
    log(`  flood: ${fl.requests} calls in ${fl.seconds.toFixed(1)} s: ${fl.allocatesOk} Allocates ok (p50 ${quantile(fl.allocateMs, 0.5).toFixed(0)} ms, max ${Math.max(0, ...fl.allocateMs).toFixed(0)} ms), ${fl.statusOk} Status ok, ${fl.rateRefused} refused by limits.rate_per_am, other limits ${JSON.stringify(fl.limitRefused)}, errors ${JSON.stringify(fl.otherErrors)} ${JSON.stringify(fl.errorSamples)}; controller CPU ${(c1 - c0).toFixed(1)} s`);
    log(`  controller during the flood: on a CPU ${sched.run.toFixed(2)} s, runnable but waiting for a CPU ${sched.wait.toFixed(2)} s, of ${fl.seconds.toFixed(1)} s; its main thread, share of 20 ms samples by state: ${JSON.stringify(mainThread)}`);
    log(`  other AM's Status during the flood: p50 ${during.p50.toFixed(2)} ms, p99 ${during.p99.toFixed(2)} ms, max ${during.max.toFixed(1)} ms (${during.n} calls, errors ${JSON.stringify(probe.errors)}); slowest at +ms: ${slow.map((s) => `${(s[0] - w0).toFixed(0)}:${s[1].toFixed(0)}`).join(' ')}`);
    const trace = o.trace ? traceSummary(lab, w0, w1) : undefined;
    if (trace) log(`  controller trace during the flood: ${JSON.stringify(trace)}`);

    const pooled = (n: TransportName): number[] => st.reps.flatMap((r) => r[n]);
    const p50s = (n: TransportName): number[] => st.reps.map((r) => quantile(r[n], 0.5));
    const ratio = (n: TransportName): number => median(st.reps.map((r) => quantile(r[n], 0.5) / quantile(r.plain, 0.5)));
    const ap = (n: TransportName): number => median(rt[n].map((r) => r.allocate + r.provision));
    const out: Record<string, unknown> = {
      status_p50_ratio_tls_vs_plain: ms(ratio('tls'), 3),
      status_p99_ms_tls: ms(quantile(pooled('tls'), 0.99), 3),
      allocate_provision_ms_tls: ms(ap('tls'), 1),
      allocate_provision_ms_plain: ms(ap('plain'), 1),
      flood_other_am_status_p99_ms: ms(during.p99, 1),
      status_p50_ms_tls: ms(median(p50s('tls')), 3),
      status_p50_ms_plain: ms(median(p50s('plain')), 3),
      status_p99_ms_plain: ms(quantile(pooled('plain'), 0.99), 3),
      status_p50_ratio_tls_tcp_vs_plain: ms(ratio('tls_tcp'), 3),
      status_p50_ms_tls_tcp: ms(median(p50s('tls_tcp')), 3),
      status_p99_ms_tls_tcp: ms(quantile(pooled('tls_tcp'), 0.99), 3),
      status_controller_cpu_us_per_call: cpu,
      status_p50_ratio_per_rep: st.reps.map((r) => ms(quantile(r.tls, 0.5) / quantile(r.plain, 0.5), 3)),
      status_calls_per_transport: pooled('plain').length, status_refused: st.refused,
      allocate_provision_ms_tls_tcp: ms(ap('tls_tcp'), 1),
      allocate_ms: Object.fromEntries(TRANSPORTS.map((n) => [n, ms(median(rt[n].map((r) => r.allocate)), 1)])),
      provision_ms: Object.fromEntries(TRANSPORTS.map((n) => [n, ms(median(rt[n].map((r) => r.provision)), 1)])),
      allocate_to_ready_ms: Object.fromEntries(TRANSPORTS.map((n) => [n, Math.round(median(rt[n].map((r) => r.ready)))])),
      flood_other_am_status_p50_ms: ms(during.p50, 2),
      flood_other_am_status_max_ms: ms(during.max, 1),
      flood_other_am_status_calls: during.n,
      flood_other_am_status_errors: probe.errors,
      baseline_other_am_status_p50_ms: ms(baseline.p50, 2),
      baseline_other_am_status_p99_ms: ms(baseline.p99, 2),
      flood_requests: fl.requests,
      flood_seconds: ms(fl.seconds, 1),
      flood_allocates_ok: fl.allocatesOk,
      flood_allocate_ms_p50: ms(quantile(fl.allocateMs, 0.5), 1),
      flood_status_ok: fl.statusOk,
      flood_refused_by_rate_limit: fl.rateRefused,
      flood_refused_by_other_limits: fl.limitRefused,
      flood_errors: fl.otherErrors,
      flood_controller_cpu_s: ms(c1 - c0, 2),
      flood_controller_cpu_share: ms((c1 - c0) / fl.seconds, 2),
      flood_controller_runqueue_wait_s: ms(sched.wait, 2),
      flood_controller_main_thread: mainThread,
      flood_alone_allocate_ms: ms(median(unit.allocate), 1),
      flood_alone_status_ms: ms(median(unit.status), 1),
      flood_alone_allocate_controller_cpu_ms: ms(median(unit.allocateCpu), 1),
      flood_alone_status_controller_cpu_ms: ms(median(unit.statusCpu), 1),
      flood_links_per_allocate: o.floodLinks,
      flood_workers: o.floodWorkers,
      ...(trace ? { flood_controller_trace: trace } : {}),
      trials: o.trials, reps: o.reps, calls: o.calls, rate: o.rate,
      transports: 'plain = plaintext unix socket (the bench AM); tls = mTLS on a unix socket; tls_tcp = mTLS on TCP 127.0.0.1; one controller process, each a separate AM',
      ...(o.trace || o.cpuProf ? { instrumented: 'controller ran with --trace/--cpu-prof: times are not the benchmark\'s' } : {}),
      ...(o.cpuProf ? { cpu_profile_dir: lab.dir } : {}),
      loadavg: loadavg().map((x) => round(x, 2)),
      total_s: round(now() - t, 1),
      ...(unsettled ? { unsettled_measurements: unsettled } : {}),
    };
    await lab.close();
    if (o.cpuProf) {
      // The controller writes its profile as it exits.
      const file = readdirSync(lab.dir).find((f) => f.endsWith('.cpuprofile'));
      if (!file) throw new Error(`no CPU profile in ${lab.dir}`);
      const path = join(lab.dir, file);
      const show = (xs: FrameTime[]): string => xs.map((x) => `    ${String(x.ms).padStart(6)} ms ${(100 * x.share).toFixed(1).padStart(5)}%  ${x.frame}`).join('\n');
      // Our code and the libraries it calls on the request path; the event loop's own frames add nothing.
      const ours = (xs: FrameTime[]): FrameTime[] => xs.filter((x) => /src\/|better-sqlite3|protobufjs|x509|_tls_wrap|garbage/.test(x.frame));
      const prof = summarizeProfile(path, m0, m1, 40);
      log(`controller CPU profile (${path}) during the flood: busy ${prof.busyMs} ms of ${Math.round(fl.seconds * 1000)} ms (sampled in wall time: includes waiting for a CPU)\n  self:\n${show(prof.self.slice(0, 25))}\n  inclusive:\n${show(ours(prof.inclusive))}`);
      const pa = summarizeProfile(path, aloneT0, aloneT1, 60);
      log(`  3 Allocates of ${o.floodLinks} links alone: busy ${pa.busyMs} ms, inclusive:\n${show(ours(pa.inclusive).slice(0, 30))}`);
      const ps = summarizeProfile(path, aloneT1, aloneT2, 60);
      log(`  3 Status of them alone: busy ${ps.busyMs} ms, inclusive:\n${show(ours(ps.inclusive).slice(0, 30))}`);
      Object.assign(out, {
        flood_controller_profile: { busy_ms: prof.busyMs, self: prof.self.slice(0, 15), inclusive: ours(prof.inclusive) },
        alone_allocate_profile: { busy_ms: pa.busyMs, inclusive: ours(pa.inclusive).slice(0, 30) },
        alone_status_profile: { busy_ms: ps.busyMs, inclusive: ours(ps.inclusive).slice(0, 30) },
      });
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await lab.close();
  }
}

main().catch((e: unknown) => {
  log(`tls benchmark failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exitCode = 1;
});
