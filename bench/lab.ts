// npm run bench -- lab [--sizes 20,100] [--trials 3] [--pings 3] [--poll-ms 100] [--keep-logs] [--profile] [--per-process]
//
// Lab mode at scale: N nodes (network namespaces on one emulated underlay,
// 198.18.0.0/15), the controller (embedded SQLite store, unix socket) and
// every node's agent in one agent host process as lab mode runs them
// (--per-process: one process per agent, as labs ran before). One slice
// whose topology is a ring (router i ↔ i+1 mod N) plus a chord from every
// router (i ↔ i+s mod N, s = ⌊N/2⌋−1; lib/ring-chords.ts): 2·N links, every
// router of degree 4. Every link is VXLAN with an IPv4 /31 from the lab's
// local pool up to N = 64 (128 links, 256 addresses: the whole 192.0.2.0/24
// block); beyond that the pool cannot hold them and each link gets an IPv6
// subnet from the local 2001:db8::/32 pool instead. Per
// trial: Allocate, Provision, poll Status until every link is READY, ping
// across a few random links, Delete, poll the kernel until no node or
// experiment namespace holds a visp link. Times are medians over the trials;
// peak memory is the highest sum of VmRSS over all the lab's processes seen
// while the lab ran (sampled every 200 ms), VmHWM per process alongside.
// After the trials, the same objects are built and removed by iproute2
// alone (kernel_floor): what the kernel costs on its own on this machine.
// --profile adds per-process traces (agents' and controller's phases,
// event-loop stalls) and samples where threads wait in the kernel; it slows
// the lab down, so its times are not the benchmark's.
// Progress on stderr; the last stdout line is JSON.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileSync } from 'node:child_process';
import type { Manifest__Output } from '../src/api/gen/visp/v1/Manifest.js';
import type { AllocateRequest } from '../src/api/gen/visp/v1/AllocateRequest.js';
import { linkList } from '../src/netlink/link.js';
import { NetlinkSocket } from '../src/netlink/socket.js';
import { parseAlias } from '../src/ownership.js';
import { kernelFloor } from './lib/kernel-floor.js';
import { ensureNeighbourRoom, neighboursNeeded } from '../src/lab/neighbours.js';
import { ipv4Fits, ringChords } from './lib/ring-chords.js';
import { cleanupLabsOnSignal, Lab, RssSampler, WaitSampler, type ProcStat } from './lib/lab-env.js';
import { log, median, now, round, settle } from './lib/measure.js';
import { parseOptions } from './lib/options.js';

interface Options { sizes: number[]; trials: number; pings: number; pollMs: number; keepLogs: boolean; profile: boolean; perProcess: boolean }

function parseArgs(argv: string[]): Options {
  const o: Options = { sizes: [20, 100], trials: 3, pings: 3, pollMs: 100, keepLogs: false, profile: false, perProcess: false };
  parseOptions(argv, {
    '--sizes': (v) => { o.sizes = v.ints(4); },
    '--trials': (v) => { o.trials = v.int(); },
    '--pings': (v) => { o.pings = v.int(0); },
    '--poll-ms': (v) => { o.pollMs = v.int(); },
    '--keep-logs': () => { o.keepLogs = true; },
    '--profile': () => { o.profile = true; },
    '--per-process': () => { o.perProcess = true; },
  });
  return o;
}

function request(slice: string, n: number, netns: (i: number) => string): AllocateRequest {
  const v4 = ipv4Fits(n);
  return {
    slice,
    topology: {
      nodes: Array.from({ length: n }, (_, i) => ({ id: `r${i}`, node: `n${i}`, netns: netns(i) })),
      links: ringChords(n).map((l) => ({
        id: l.id, members: [{ node: `r${l.a}` }, { node: `r${l.b}` }],
        encapsulation: 'ENCAPSULATION_VXLAN', addressClass: 'ADDRESS_CLASS_LOCAL', ...(v4 ? { ipv4: { enabled: true } } : { ipv6: { enabled: true } }),
      })),
    },
  };
}

let unsettled = 0;
async function quiet(): Promise<void> {
  if (!(await settle())) { unsettled++; log('  (machine busy: measuring anyway)'); }
}

const cpuOf = (s: { controller: ProcStat; agents: ProcStat[] }): { controller: number; agents: number } =>
  ({ controller: s.controller.cpuS, agents: s.agents.reduce((a, x) => a + x.cpuS, 0) });
const cpuDelta = (a: { controller: number; agents: number }, b: { controller: number; agents: number }): { controller_s: number; agents_s: number } =>
  ({ controller_s: round(b.controller - a.controller, 2), agents_s: round(b.agents - a.agents, 2) });

interface Trial {
  allocate: number; provisionRpc: number; provisionToReady: number; ready: number;
  deleteRpc: number; teardownNodes: number; teardown: number;
  firstReady: number | undefined; lastReadyEvent: number | undefined; statusPolls: number; statusMsMedian: number;
  cpuUp: { controller_s: number; agents_s: number }; cpuDown: { controller_s: number; agents_s: number };
  pings: string[];
  steadyCpu: number;
  statusMs: number[]; describeMs: number[]; watchLagMs: number[];
  profile?: { up: Array<{ where: string; threads: number }>; down: Array<{ where: string; threads: number }>; agents: unknown };
}

/** visp-owned links per namespace, one dump per socket. */
async function ownedLinks(socks: readonly NetlinkSocket[]): Promise<number[]> {
  return Promise.all(socks.map(async (s) => (await linkList(s)).filter((l) => parseAlias(l.alias)).length));
}

const roles = (lab: Lab) => (): Map<number, string> => new Map(lab.procs.map((p) => [p.pid, p.name]));

function ping(fromNs: string, to: string): void {
  // Up to three echoes (the first may wait for neighbour discovery on both underlay and link): one reply is enough.
  execFileSync('ip', ['netns', 'exec', fromNs, 'ping', ...(to.includes(':') ? ['-6'] : []), '-c', '3', '-i', '0.5', '-W', '3', '-q', to], { stdio: 'pipe' });
}

/** p50 and p99 of a list of milliseconds. */
function pct(xs: number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { n: s.length, p50: round(at(0.5), 1), p99: round(at(0.99), 1), max: round(s.at(-1) ?? 0, 1) };
}

const msText = (s: number): string => (s * 1000).toFixed(0);

/** CPU cores the lab's processes keep busy over `ms` (utime+stime of the controller and agents). */
async function labCpu(lab: Lab, ms: number): Promise<number> {
  const a = cpuOf(lab.stats());
  const t = now();
  await sleep(ms);
  const b = cpuOf(lab.stats());
  return (b.controller + b.agents - a.controller - a.agents) / (now() - t);
}

/** Epoch milliseconds, the clock the agents' --trace lines use. */
const wall = (): number => performance.timeOrigin + performance.now();

interface TraceLine { what: string; args: string; start: number; end: number }

/** An agent's --trace lines at or after `since` (epoch ms). */
function traceOf(logFile: string, since: number): TraceLine[] {
  const out: TraceLine[] = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    const m = /trace (\S+) (.*?) (?:at ([\d.]+)|start ([\d.]+) end ([\d.]+))$/.exec(line);
    if (!m) continue;
    const start = Number(m[3] ?? m[4]);
    if (start < since) continue;
    out.push({ what: m[1]!, args: m[2]!, start, end: Number(m[5] ?? m[3]) });
  }
  return out;
}

/**
 * Per agent, from its trace: when the desired state arrived, how long it
 * waited for the reconcile queue, how long the kernel work took, when the
 * report left. Summarised over agents (ms after `t0`, or durations).
 */
function agentPhases(lab: Lab, t0: number, t1: number, kind: 'up' | 'down'): Record<string, string> {
  const rows: Array<{ recv: number; wait: number; work: number; report: number; maxStall: number; stalled: number }> = [];
  for (const a of lab.agents) {
    const tr = traceOf(a.logFile, t0).filter((x) => x.start <= t1);
    const stalls = tr.filter((x) => x.what === 'stall').map((x) => x.end - x.start);
    const recv = tr.find((x) => x.what === 'setDesired' && (kind === 'up' ? !/endpoints 0 /.test(`${x.args} `) : !/teardowns 0$/.test(x.args)));
    if (!recv) continue;
    const work = tr.find((x) => x.start >= recv.start && x.what === (kind === 'up' ? 'reconcile' : 'deleteSlice'));
    const report = tr.find((x) => x.what === 'report' && work && x.start >= work.end);
    if (!work || !report) continue;
    rows.push({ recv: recv.start - t0, wait: work.start - recv.start, work: work.end - work.start, report: report.start - t0, maxStall: Math.max(0, ...stalls), stalled: stalls.reduce((x, y) => x + y, 0) });
  }
  const sum = (k: keyof (typeof rows)[number]): string => {
    const xs = rows.map((r) => r[k]).sort((a, b) => a - b);
    return xs.length ? `${Math.round(xs[0]!)}/${Math.round(median(xs))}/${Math.round(xs.at(-1)!)}` : '-';
  };
  return {
    agents: String(rows.length), desired_received_ms: sum('recv'), queue_wait_ms: sum('wait'), [kind === 'up' ? 'reconcile_ms' : 'delete_slice_ms']: sum('work'),
    report_sent_ms: sum('report'), longest_event_loop_stall_ms: sum('maxStall'), event_loop_stalled_ms: sum('stalled'),
  };
}

/** The controller's trace in a window: the verb, store commits, pushes, event-loop stalls. */
function controllerPhases(lab: Lab, t0: number, t1: number): Record<string, string> {
  const tr = traceOf(lab.controller!.logFile, t0).filter((x) => x.start <= t1);
  const out: Record<string, string> = {};
  for (const what of ['allocate', 'provision', 'delete', 'save', 'remove', 'push', 'status', 'stall']) {
    const xs = tr.filter((x) => x.what === what).map((x) => x.end - x.start);
    if (xs.length) out[what] = `${xs.length}× total ${Math.round(xs.reduce((a, b) => a + b, 0))} ms, max ${Math.round(Math.max(...xs))} ms`;
  }
  return out;
}

async function trial(lab: Lab, socks: NetlinkSocket[], n: number, t: number, tag: string, o: Options): Promise<Trial> {
  const slice = `bench-n${n}-t${t}`;
  const netns = (i: number): string => `vb-${tag}-${n}-${t}-r${i}`;
  const expNs = Array.from({ length: n }, (_, i) => netns(i));
  for (const ns of expNs) lab.expNamespaces.add(ns);
  const req = request(slice, n, netns);
  const links = req.topology!.links!.length;

  // State events as they happen (not part of the measured path: the poll is).
  const events = lab.operatorApi.operator.watchEvents({ slice });
  const readyAt = new Map<string, number>();
  const watchLagMs: number[] = [];
  const watching = (async () => {
    for await (const e of events) {
      // How late the controller's events reach a watcher (its clock is ours: same machine).
      const t = Date.parse(e.time);
      if (Number.isFinite(t)) watchLagMs.push(Date.now() - t);
      if (e.kind === 'state' && e.state === 'OPERATIONAL_STATE_READY') readyAt.set(`${e.link}@${e.node}`, now());
    }
  })().catch(() => undefined);
  const expSocks: NetlinkSocket[] = [];
  const upSampler = o.profile ? new WaitSampler(roles(lab)) : undefined;
  const downSampler = o.profile ? new WaitSampler(roles(lab)) : undefined;
  try {
    await quiet();
    const c0 = cpuOf(lab.stats());
    upSampler?.start();
    const t0 = now();
    const w0 = wall();
    await lab.api.links.allocate(req);
    const t1 = now();
    const w1 = wall();
    await lab.api.links.provision({ slice });
    const t2 = now();
    let m: Manifest__Output | undefined;
    const statusMs: number[] = [];
    for (;;) {
      const s0 = now();
      m = (await lab.api.links.status({ slice })).manifest!;
      statusMs.push((now() - s0) * 1000);
      if (m.operationalState === 'OPERATIONAL_STATE_READY') break;
      const failed = m.slivers.find((s) => s.operationalState === 'OPERATIONAL_STATE_FAILED');
      if (failed) throw new Error(`${failed.id} failed: ${failed.error}`);
      if (now() - t2 > 300) throw new Error(`not ready after 300 s: ${m.slivers.filter((s) => s.operationalState !== 'OPERATIONAL_STATE_READY').length} links not ready`);
      await sleep(o.pollMs);
    }
    const t3 = now();
    const w3 = wall();
    upSampler?.stop();
    const c1 = cpuOf(lab.stats());
    const ready = [...readyAt.values()].sort((a, b) => a - b);
    log(`  n=${n} trial ${t}: allocate ${msText(t1 - t0)} ms, provision RPC ${msText(t2 - t1)} ms, ready after ${msText(t3 - t1)} ms (${links} links, ${statusMs.length} Status polls, median ${median(statusMs).toFixed(1)} ms)`);
    if (ready.length) log(`    endpoint READY events: first ${msText(ready[0]! - t1)} ms, median ${msText(median(ready) - t1)} ms, last ${msText(ready.at(-1)! - t1)} ms after Provision; cpu ${JSON.stringify(cpuDelta(c0, c1))}`);

    // Correctness on a sample: ping across random links, first member → second member's address.
    const pings: string[] = [];
    const pool = [...m.slivers];
    for (let k = 0; k < Math.min(o.pings, pool.length); k++) {
      const s = pool.splice(Math.floor(Math.random() * pool.length), 1)[0]!;
      const [a, b] = s.endpoints;
      const to = b!.addresses[0]!.split('/')[0]!;
      try { ping(a!.netns, to); } catch (e) {
        if (process.env.VISP_BENCH_DEBUG) {
          const sh = (args: string[]): string => { try { return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8' }); } catch (x) { return String(x); } };
          for (const ep of [a!, b!]) {
            const nodeNs = lab.underlay.nodes.find((n) => n.name === ep.physicalNode)!.netns;
            log(`DEBUG ${ep.physicalNode} ${nodeNs} tunnels ${ep.tunnels.join(',')}`);
            log(sh(['ip', '-n', nodeNs, '-d', 'link', 'show']));
            for (const t of ep.tunnels) log(sh(['tc', '-n', nodeNs, '-s', 'filter', 'show', 'dev', t, 'ingress']));
            log(sh(['ip', '-n', ep.netns, '-6', 'addr']));
            log(sh(['ip', '-n', ep.netns, '-6', 'neigh']));
            log(sh(['ip', '-n', ep.netns, '-s', 'link']));
          }
          log(sh(['ip', 'netns', 'exec', a!.netns, 'ping', '-6', '-c', '2', to]));
          if (process.env.VISP_BENCH_HOLD) { log(`HOLDING for inspection: ${a!.netns} → ${to}`); await sleep(Number(process.env.VISP_BENCH_HOLD) * 1000); }
        }
        throw new Error(`ping ${s.id}: ${a!.netns} → ${to} failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim() ?? e}`);
      }
      pings.push(`${s.id} ${a!.physicalNode}:${a!.ifname} → ${b!.physicalNode}:${b!.ifname} ${to}`);
    }
    log(`    ping ok: ${pings.join('; ')}`);
    // The controller's read verbs on the whole slice, with every agent connected.
    const statusAgain: number[] = [];
    const describe: number[] = [];
    for (let k = 0; k < 10; k++) {
      let s0 = now();
      await lab.api.links.status({ slice });
      statusAgain.push((now() - s0) * 1000);
      s0 = now();
      await lab.api.links.describe({ slice });
      describe.push((now() - s0) * 1000);
    }
    log(`    Status ×10 ${JSON.stringify(pct(statusAgain))}, Describe ×10 ${JSON.stringify(pct(describe))} ms; WatchEvents lag ${JSON.stringify(pct(watchLagMs))} ms over ${watchLagMs.length} events`);
    const steadyCpu = await labCpu(lab, 5000);
    log(`    steady state (slice up): ${steadyCpu.toFixed(2)} CPU cores busy in the lab's processes`);

    // Teardown is done when no node and no experiment namespace holds a visp link.
    // The namespaces are the topology's (named), so the agents empty them and keep them.
    for (const ns of expNs) expSocks.push(new NetlinkSocket({ netns: ns }));
    await quiet();
    const c2 = cpuOf(lab.stats());
    downSampler?.start();
    const t4 = now();
    const w4 = wall();
    await lab.api.links.delete({ slice });
    const t5 = now();
    let nodesClear: number | undefined;
    for (;;) {
      const [perNode, perExp] = await Promise.all([ownedLinks(socks), ownedLinks(expSocks)]);
      const at = now();
      const left = { node: perNode.reduce((a, b) => a + b, 0), exp: perExp.reduce((a, b) => a + b, 0) };
      if (left.node === 0) nodesClear ??= at;
      if (left.node === 0 && left.exp === 0) break;
      if (at - t4 > 300) throw new Error(`teardown: after 300 s ${left.node} visp links are left in node namespaces, ${left.exp} in experiment namespaces`);
      await sleep(Math.min(o.pollMs, 50));
    }
    const t6 = now();
    downSampler?.stop();
    const c3 = cpuOf(lab.stats());
    log(`    teardown: Delete RPC ${msText(t5 - t4)} ms, node namespaces clear ${msText(nodesClear! - t4)} ms, all clear ${msText(t6 - t4)} ms; cpu ${JSON.stringify(cpuDelta(c2, c3))}`);
    const w6 = wall();
    if (o.profile) await sleep(3000); // the agents' last reports after the kernel is clear
    const phases = o.profile ? {
      up: agentPhases(lab, w1, w3, 'up'), down: agentPhases(lab, w4, w6 + 3000, 'down'),
      controller_up: controllerPhases(lab, w0, w3), controller_down: controllerPhases(lab, w4, w6),
    } : undefined;
    if (phases) {
      log(`    controller, Allocate → READY: ${JSON.stringify(phases.controller_up)}`);
      log(`    agents after Provision (ms after Provision or durations; min/median/max over agents): ${JSON.stringify(phases.up)}`);
      log(`    controller, Delete → clear: ${JSON.stringify(phases.controller_down)}`);
      log(`    agents after Delete (min/median/max): ${JSON.stringify(phases.down)}`);
    }
    if (upSampler && downSampler) {
      log(`    profile, Allocate → READY (threads running or in D state, per 100 ms sample, by role and kernel stack):\n${upSampler.top().map((x) => `      ${x.threads.toFixed(2)} ${x.where}`).join('\n')}`);
      log(`    profile, Delete → clear:\n${downSampler.top().map((x) => `      ${x.threads.toFixed(2)} ${x.where}`).join('\n')}`);
    }
    return {
      allocate: t1 - t0, provisionRpc: t2 - t1, provisionToReady: t3 - t1, ready: t3 - t0,
      deleteRpc: t5 - t4, teardownNodes: nodesClear! - t4, teardown: t6 - t4,
      firstReady: ready.length ? ready[0]! - t1 : undefined, lastReadyEvent: ready.length ? ready.at(-1)! - t1 : undefined,
      statusPolls: statusMs.length, statusMsMedian: median(statusMs),
      cpuUp: cpuDelta(c0, c1), cpuDown: cpuDelta(c2, c3), pings, steadyCpu,
      statusMs: statusAgain, describeMs: describe, watchLagMs: [...watchLagMs],
      ...(upSampler && downSampler ? { profile: { up: upSampler.top(), down: downSampler.top(), agents: phases } } : {}),
    };
  } finally {
    upSampler?.stop();
    downSampler?.stop();
    events.cancel();
    await watching;
    for (const s of expSocks) s.close();
    // Empty now (checked above): remove them, untimed. An agent may be removing the ones it created meanwhile.
    for (const ns of expNs) {
      if (!existsSync(`/run/netns/${ns}`)) continue;
      try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' }); } catch (e) { if (existsSync(`/run/netns/${ns}`)) throw e; }
    }
  }
}

async function runSize(n: number, o: Options, tag: string): Promise<Record<string, unknown>> {
  log(`lab n=${n}: underlay (hub + ${n} node namespaces)`);
  // As `visp lab up` does: the kernel's shared neighbour tables get room for the lab's links (src/lab/neighbours.ts).
  for (const line of ensureNeighbourRoom(neighboursNeeded(ringChords(n).map(() => ({ members: 2 }))))) log(`  kernel neighbour tables raised: ${line}`);
  const tu = now();
  const lab = new Lab(n);
  lab.keepLogs = o.keepLogs;
  const socks: NetlinkSocket[] = [];
  let sampler: RssSampler | undefined;
  try {
    const underlayS = now() - tu;
    const tc = now();
    await lab.startController({ trace: o.profile });
    const controllerS = now() - tc;
    sampler = new RssSampler(() => lab.procs.map((p) => p.pid));
    const ta = now();
    await lab.startAgents({ timeoutMs: 60_000 + n * 2000, trace: o.profile, perProcess: o.perProcess });
    const agentsS = now() - ta;
    log(`  underlay ${underlayS.toFixed(1)} s, controller up ${controllerS.toFixed(1)} s, ${n} agents connected ${agentsS.toFixed(1)} s`);
    for (const x of lab.underlay.nodes) socks.push(new NetlinkSocket({ netns: x.netns }));
    await sleep(2000); // let the agents' startup (probe, first reconcile) finish before measuring
    const idle = lab.stats();
    const idleCpu = await labCpu(lab, 5000);
    log(`  idle lab (no slice): ${idleCpu.toFixed(2)} CPU cores busy in the lab's processes (agents' periodic reconcile and report)`);

    const trials: Trial[] = [];
    for (let t = 1; t <= o.trials; t++) trials.push(await trial(lab, socks, n, t, tag, o));
    sampler.stop();
    // The same objects by iproute2 alone, in the same node namespaces (the agents idle meanwhile).
    const floorNs = (i: number): string => `vb-${tag}-${n}-kf-r${i}`;
    for (let i = 0; i < n; i++) lab.expNamespaces.add(floorNs(i));
    await quiet();
    const floor = await kernelFloor(lab.underlay.nodes, ringChords(n), floorNs);
    log(`  kernel floor (iproute2 only, all nodes at once): build ${msText(floor.provisionS)} ms, group deletes ${msText(floor.teardownS)} ms`);
    const st = lab.stats();
    const hwm = [st.controller.hwmKb, ...st.agents.map((a) => a.hwmKb)];
    const mb = (kb: number): number => round(kb / 1024, 1);
    const ms = (xs: number[]): number => Math.round(median(xs) * 1000);
    const links = ringChords(n).length;
    return {
      allocate_ms: ms(trials.map((x) => x.allocate)),
      provision_to_ready_ms: ms(trials.map((x) => x.provisionToReady)),
      ready_ms: ms(trials.map((x) => x.ready)),
      teardown_ms: ms(trials.map((x) => x.teardown)),
      peak_rss_mb_total: mb(sampler.peakKb),
      agents: n,
      links, endpoints: 2 * links,
      kernel_floor: { build_ms: Math.round(floor.provisionS * 1000), teardown_ms: Math.round(floor.teardownS * 1000) },
      provision_rpc_ms: ms(trials.map((x) => x.provisionRpc)),
      first_endpoint_ready_ms: ms(trials.flatMap((x) => (x.firstReady === undefined ? [] : [x.firstReady]))),
      last_endpoint_ready_ms: ms(trials.flatMap((x) => (x.lastReadyEvent === undefined ? [] : [x.lastReadyEvent]))),
      delete_rpc_ms: ms(trials.map((x) => x.deleteRpc)),
      teardown_node_ns_ms: ms(trials.map((x) => x.teardownNodes)),
      status_rpc_ms: round(median(trials.map((x) => x.statusMsMedian)), 1),
      controller_rpc_ms: {
        allocate: pct(trials.map((x) => x.allocate * 1000)), provision: pct(trials.map((x) => x.provisionRpc * 1000)),
        status: pct(trials.flatMap((x) => x.statusMs)), describe: pct(trials.flatMap((x) => x.describeMs)),
        watch_events_lag: pct(trials.flatMap((x) => x.watchLagMs)),
      },
      hwm_mb_sum: mb(hwm.reduce((a, b) => a + b, 0)),
      controller_hwm_mb: mb(st.controller.hwmKb),
      agent_processes: st.agents.length,
      agent_hwm_mb_median: mb(median(st.agents.map((a) => a.hwmKb))),
      agent_hwm_mb_max: mb(Math.max(...st.agents.map((a) => a.hwmKb))),
      rss_mb_per_node: round(sampler.peakKb / 1024 / n, 2),
      idle_rss_mb_total: mb(idle.controller.rssKb + idle.agents.reduce((a, x) => a + x.rssKb, 0)),
      idle_cpu_cores: round(idleCpu, 2), steady_cpu_cores: round(median(trials.map((x) => x.steadyCpu)), 2),
      lab_start_s: { underlay: round(underlayS, 1), controller: round(controllerS, 1), agents_connected: round(agentsS, 1) },
      cpu_up_s: trials.map((x) => x.cpuUp), cpu_down_s: trials.map((x) => x.cpuDown),
      samples_ms: {
        allocate: trials.map((x) => Math.round(x.allocate * 1000)), provision_to_ready: trials.map((x) => Math.round(x.provisionToReady * 1000)),
        ready: trials.map((x) => Math.round(x.ready * 1000)), teardown: trials.map((x) => Math.round(x.teardown * 1000)),
      },
      pinged: trials.flatMap((x) => x.pings).length,
      ...(o.profile ? { profile: trials.map((x) => x.profile) } : {}),
    };
  } finally {
    sampler?.stop();
    for (const s of socks) s.close();
    await lab.close();
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  cleanupLabsOnSignal();
  if (process.getuid?.() !== 0) throw new Error('the lab benchmark needs root (network namespaces, CAP_NET_ADMIN)');
  const tag = randomBytes(2).toString('hex');
  log(`lab benchmark: sizes ${o.sizes.join(', ')}, ${o.trials} trials each, ring + chords (i ↔ i+⌊N/2⌋−1 for every i: 2·N links), VXLAN, IPv4 /31 local up to N = 64, else IPv6`);
  const t = now();
  const out: Record<string, unknown> = {};
  for (const n of o.sizes) out[`n${n}`] = await runSize(n, o, tag);
  out.trials = o.trials;
  out.topology = 'ring i<->i+1 mod N plus chords i<->i+floor(N/2)-1 mod N for every i (2N links, degree 4); vxlan; ipv4 /31 from 192.0.2.0/24 (local) up to 128 links, else ipv6 from the local 2001:db8 pool';
  out.agents_hosted = o.perProcess ? 'one process per agent' : 'one agent host process';
  out.ready_ms_is = 'Allocate sent -> Status READY (allocate_ms + provision_to_ready_ms)';
  out.total_s = round(now() - t, 1);
  if (unsettled) out.unsettled_measurements = unsettled;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e: unknown) => {
  log(`lab benchmark failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exitCode = 1;
});
