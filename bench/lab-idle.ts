// npm run bench -- lab-idle [--sizes 100,300] [--idle-s 20] [--cpu-prof] [--keep-logs]
//
// What a lab costs while nothing changes: N nodes (bench/lib/lab-env.ts: the
// controller and one agent host, as lab mode runs them), one slice whose
// topology is a ring of N routers (router i ↔ i+1 mod N, VXLAN), built and
// READY; then, for --idle-s seconds, the CPU time (utime + stime from
// /proc/PID/stat) of the controller and of the agent host, as cores busy.
// An idle lab's cost is the agents' periodic drift checks and reports and
// the controller taking them; on a 2-core machine it is taken from whatever
// else the lab does (a big lab's build). --cpu-prof runs both processes
// under node --cpu-prof and prints where the idle window went, by function
// (bench/lib/cpuprofile.ts); the profiler costs a little itself.
// Progress on stderr; the last stdout line is JSON.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AllocateRequest } from '../src/api/gen/visp/v1/AllocateRequest.js';
import { monotonicUs, summarizeProfile, type FrameTime } from './lib/cpuprofile.js';
import { cleanupLabsOnSignal, Lab } from './lib/lab-env.js';
import { log, now, round } from './lib/measure.js';
import { parseOptions } from './lib/options.js';

interface Options { sizes: number[]; idleS: number; cpuProf: boolean; keepLogs: boolean }

function parseArgs(argv: string[]): Options {
  const o: Options = { sizes: [100, 300], idleS: 20, cpuProf: false, keepLogs: false };
  parseOptions(argv, {
    '--sizes': (v) => { o.sizes = v.ints(4); },
    '--idle-s': (v) => { o.idleS = v.int(); },
    '--cpu-prof': () => { o.cpuProf = true; },
    '--keep-logs': () => { o.keepLogs = true; },
  });
  return o;
}

/** A ring of n routers, one per node, VXLAN; IPv4 /31s while the local pool holds them (128), else IPv6. */
function ring(slice: string, n: number, netns: (i: number) => string): AllocateRequest {
  const v4 = n <= 128;
  return {
    slice,
    topology: {
      nodes: Array.from({ length: n }, (_, i) => ({ id: `r${i}`, node: `n${i}`, netns: netns(i) })),
      links: Array.from({ length: n }, (_, i) => ({
        id: `ring${i}`, members: [{ node: `r${i}` }, { node: `r${(i + 1) % n}` }],
        encapsulation: 'ENCAPSULATION_VXLAN', addressClass: 'ADDRESS_CLASS_LOCAL', ...(v4 ? { ipv4: { enabled: true } } : { ipv6: { enabled: true } }),
      })),
    },
  };
}

/** CPU seconds of a process and of its children it has waited for (an agent's `ip`/`nft` processes), from /proc/PID/stat. */
function cpuOf(pid: number): { self: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  // Fields 14–17 of proc(5) (utime stime cutime cstime), in clock ticks of 1/100 s.
  return { self: (f[11]! + f[12]!) / 100, children: (f[13]! + f[14]!) / 100 };
}

const show = (xs: FrameTime[]): string => xs.map((x) => `      ${String(x.ms).padStart(6)} ms ${(100 * x.share).toFixed(1).padStart(5)}%  ${x.frame}`).join('\n');

async function runSize(n: number, o: Options, tag: string): Promise<Record<string, unknown>> {
  log(`lab-idle n=${n}: underlay, controller, ${n} agents in one host`);
  const lab = new Lab(n);
  lab.keepLogs = o.keepLogs || o.cpuProf;
  const prof = o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${lab.dir}`] : [];
  let out: Record<string, unknown> = {};
  let window: [number, number] = [0, 0];
  try {
    await lab.startController({ nodeArgs: prof });
    await lab.startAgents({ timeoutMs: 60_000 + n * 2000, nodeArgs: () => prof });
    const slice = `idle-n${n}`;
    const netns = (i: number): string => `vb-${tag}-${n}-r${i}`;
    for (let i = 0; i < n; i++) lab.expNamespaces.add(netns(i));
    const t0 = now();
    await lab.api.links.allocate(ring(slice, n, netns));
    await lab.api.links.provision({ slice });
    for (;;) {
      const m = (await lab.api.links.status({ slice })).manifest!;
      if (m.operationalState === 'OPERATIONAL_STATE_READY') break;
      if (now() - t0 > 120 + n) throw new Error(`${n}-link ring not READY after ${Math.round(now() - t0)} s`);
      await sleep(500);
    }
    log(`  ring of ${n} READY in ${(now() - t0).toFixed(1)} s; settling 10 s`);
    await sleep(10_000); // the first passes after a build read everything; then the lab is idle
    const pids = [lab.controller!.pid, lab.agents[0]!.pid];
    const a = pids.map(cpuOf);
    const m0 = monotonicUs();
    const t1 = now();
    await sleep(o.idleS * 1000);
    const b = pids.map(cpuOf);
    const m1 = monotonicUs();
    const dt = now() - t1;
    window = [m0, m1];
    const rate = (i: number, k: 'self' | 'children'): number => (b[i]![k] - a[i]![k]) / dt;
    const [controller, agents, children] = [rate(0, 'self'), rate(1, 'self'), rate(1, 'children') + rate(0, 'children')];
    const st = lab.stats();
    log(`  idle ${dt.toFixed(1)} s: controller ${controller.toFixed(3)} cores, agent host ${agents.toFixed(3)} cores, their child processes ${children.toFixed(3)} cores; rss ${Math.round(st.controller.rssKb / 1024)} / ${Math.round(st.agents[0]!.rssKb / 1024)} MB`);
    out = { idle_s: round(dt, 1), controller_cores: round(controller, 3), agent_host_cores: round(agents, 3), child_process_cores: round(children, 3), total_cores: round(controller + agents + children, 3) };
    if (o.cpuProf) {
      // The host writes its profile as it exits, after closing every agent: longer than lab.close() waits before SIGKILL.
      const host = lab.agents[0]!.child;
      const exited = new Promise<void>((r) => host.once('exit', () => r()));
      host.kill('SIGTERM');
      await Promise.race([exited, sleep(120_000)]);
    }
  } finally {
    await lab.close();
  }
  if (o.cpuProf) {
    // Each process writes its profile as it exits: the controller's and the host's, told apart by pid.
    const files = readdirSync(lab.dir).filter((f) => f.endsWith('.cpuprofile'));
    for (const [name, proc] of [['controller', lab.controller], ['agent_host', lab.agents[0]]] as const) {
      const f = files.find((x) => x.includes(`.${proc?.pid}.`));
      if (!f) { log(`  no CPU profile for the ${name} in ${lab.dir}`); continue; }
      const p = summarizeProfile(join(lab.dir, f), window[0], window[1], 40);
      log(`  ${name} profile (${join(lab.dir, f)}): busy ${p.busyMs} ms in the idle window\n    self:\n${show(p.self.slice(0, 20))}\n    inclusive:\n${show(p.inclusive.slice(0, 40))}`);
      out[`${name}_profile`] = { busy_ms: p.busyMs, self: p.self.slice(0, 15), inclusive: p.inclusive.slice(0, 30) };
    }
  }
  return out;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  cleanupLabsOnSignal();
  if (process.getuid?.() !== 0) throw new Error('the lab-idle benchmark needs root (network namespaces, CAP_NET_ADMIN)');
  const tag = randomBytes(2).toString('hex');
  const out: Record<string, unknown> = {};
  for (const n of o.sizes) out[`n${n}`] = await runSize(n, o, tag);
  out.topology = 'ring i<->i+1 mod N, vxlan, one router per node; idle = READY and nothing changing';
  if (o.cpuProf) out.instrumented = 'processes ran with --cpu-prof: figures are not the benchmark\'s';
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e: unknown) => {
  log(`lab-idle benchmark failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exitCode = 1;
});
