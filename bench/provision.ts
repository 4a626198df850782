// npm run bench -- provision [--n 1000] [--trials 3] [--exp-ns 4] [--each-sample 200] [--profile]
//
// Provision N VXLAN link endpoints on one node namespace (tunnel + veth
// pair, far end in an experiment namespace, addresses, up; the tunnel and
// the veth's host end joined by tc redirects, no bridge), re-apply the same
// spec (a no-op reconcile), delete everything; and the same work with
// iproute2: one `ip -batch` (and `tc -batch`) process per namespace, and one
// `ip` or `tc` process per operation. Then the agent's event loop while a
// neighbour node is provisioned: a node kernel rebuilding a few endpoints of
// its own over and over (every build and delete takes RTNL) while iproute2
// builds N endpoints in another node namespace; the loop's delay
// p50/p99/max with sends on the thread pool (as visp sends) and, for
// comparison, on the loop (as it sent before). Every measurement runs in
// fresh "vb-…" namespaces that are always removed. Progress goes to stderr; the last stdout line is JSON.
import { execFile, spawnSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANCHOR } from '../src/bridge/anchor.js';
import { applySteps } from '../src/endpoint/apply.js';
import { capabilities, NodeKernel } from '../src/endpoint/node.js';
import { planEndpoint, type Step } from '../src/endpoint/plan.js';
import { readView, type NsView } from '../src/endpoint/snapshot.js';
import { resolveEndpoint, type EndpointSpec } from '../src/endpoint/spec.js';
import { linkDelGroup } from '../src/netlink/link.js';
import { withNetnsFd } from '../src/netlink/netns.js';
import { NetlinkSocket, setSendOnLoop } from '../src/netlink/socket.js';
import { cpuBusySeconds, log, median, now, round, settle, timed } from './lib/measure.js';
import { parseOptions } from './lib/options.js';
import { cleanupOnSignal, ipIn, removeNetns, scratchNetns } from './lib/scratch.js';
import { endState, leftovers, summary } from './lib/state.js';
import { batches, GROUP, ipDeleteCommands, ipProvisionCommands, perCommandScript, workload, type IpCommand } from './lib/workload.js';

interface Options { n: number; trials: number; expNs: number; eachSample: number; profile: boolean }

function parseArgs(argv: string[]): Options {
  const o: Options = { n: 1000, trials: 3, expNs: 4, eachSample: 200, profile: false };
  parseOptions(argv, {
    '--n': (v) => { o.n = v.int(); },
    '--trials': (v) => { o.trials = v.int(); },
    '--exp-ns': (v) => { o.expNs = v.int(); },
    '--each-sample': (v) => { o.eachSample = v.int(); },
    '--profile': () => { o.profile = true; },
  });
  o.eachSample = Math.min(o.eachSample, o.n);
  return o;
}

/** A node namespace and its experiment namespaces, fresh; removed by `done`. */
interface Env { node: string; exps: string[]; specs: EndpointSpec[]; done: () => void }

function freshEnv(o: Options, n = o.n): Env {
  const made: string[] = [];
  try {
    const node = scratchNetns('node');
    made.push(node);
    const exps = Array.from({ length: o.expNs }, (_, k) => { const ns = scratchNetns(`exp${k}`); made.push(ns); return ns; });
    return { node, exps, specs: workload(n, exps), done: () => { for (const ns of made) removeNetns(ns); } };
  } catch (e) {
    for (const ns of made) removeNetns(ns);
    throw e;
  }
}

let unsettled = 0;
async function quiet(): Promise<void> {
  if (!(await settle())) { unsettled++; log('  (machine busy: measuring anyway)'); }
}

function runTool(tool: 'ip' | 'tc', args: string[], input?: string): void {
  const r = spawnSync(tool, args, { encoding: 'utf8', ...(input === undefined ? {} : { input }), maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${tool} ${args.slice(0, 3).join(' ')} … failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
}

function runIpBatches(cmds: readonly IpCommand[]): void {
  for (const b of batches(cmds)) runTool(b.tool, ['-n', b.netns, '-batch', '-'], b.lines);
}

function assertSame(what: string, got: readonly string[], want: readonly string[] | undefined): void {
  if (!want) return;
  const w = new Set(want);
  const g = new Set(got);
  const missing = want.filter((l) => !g.has(l));
  const extra = got.filter((l) => !w.has(l));
  if (missing.length || extra.length) {
    throw new Error(`${what}: end state differs from visp's: ${missing.length} missing (e.g. ${missing[0] ?? '-'}), ${extra.length} extra (e.g. ${extra[0] ?? '-'})`);
  }
}

interface VispTrial { provision: number; noop: number; noopFirst: number; noopSteps: number; noopMessages: number; provisionMessages: number; teardown: number; state: string[] }

async function vispTrial(o: Options): Promise<VispTrial> {
  const env = freshEnv(o);
  const k = new NodeKernel({ netns: env.node });
  try {
    await quiet();
    const p = await timed(() => k.reconcile(env.specs));
    const failed = p.value.filter((r) => r.error);
    if (failed.length) throw new Error(`visp: ${failed.length} endpoints failed, first: ${failed[0]!.link}: ${failed[0]!.error!.message}`);
    const provisionMessages = k.messagesSent;
    const state = endState(env.node, env.exps);
    log(`  visp provision ${p.s.toFixed(3)} s (${provisionMessages} netlink messages): ${summary(state)}`);

    // The first pass after a build reads every view (the build's changes are fresh); it must plan nothing.
    await quiet();
    const m0 = k.messagesSent;
    const first = await timed(() => k.reconcile(env.specs));
    const firstSteps = first.value.reduce((a, r) => a + r.steps.length + (r.error ? 1 : 0), 0);
    log(`  visp no-op, first after the build ${first.s.toFixed(3)} s: ${firstSteps} steps planned, ${k.messagesSent - m0} messages (dumps only)`);
    if (firstSteps !== 0) throw new Error(`visp: re-applying the same spec planned ${firstSteps} steps, e.g. ${first.value.find((r) => r.steps.length)?.steps[0]}`);
    // Then the steady state an agent's periodic pass is in: nothing changed, the kept views serve (view-cache.ts).
    // The kernel keeps announcing carrier changes of a thousand new endpoints' devices for a few seconds after the
    // build (linkwatch): until then each pass reads again. Passes every 500 ms until one needs no dump.
    const settleStart = now();
    for (;;) {
      const d0 = k.viewStats.dumps;
      await k.reconcile(env.specs);
      if (k.viewStats.dumps === d0 || now() - settleStart > 30) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    log(`  (the node's notifications went quiet ${(now() - settleStart).toFixed(1)} s after the first pass)`);
    await quiet();
    const before = k.messagesSent;
    const v0 = k.viewStats;
    const noop = await timed(() => k.reconcile(env.specs));
    const noopSteps = noop.value.reduce((a, r) => a + r.steps.length + (r.error ? 1 : 0), 0);
    const noopMessages = k.messagesSent - before;
    const v1 = k.viewStats;
    log(`  visp no-op     ${noop.s.toFixed(3)} s: ${noopSteps} steps planned, ${noopMessages} messages, ${v1.hits - v0.hits} views kept, ${v1.dumps - v0.dumps} dumped`);
    if (noopSteps !== 0) throw new Error(`visp: re-applying the same spec planned ${noopSteps} steps, e.g. ${noop.value.find((r) => r.steps.length)?.steps[0]}`);

    await quiet();
    const t = await timed(() => k.deleteSlice(GROUP, env.exps));
    const left = leftovers([env.node, ...env.exps]);
    log(`  visp teardown  ${t.s.toFixed(3)} s (group delete, ${1 + env.exps.length} requests), ${left} links left`);
    if (left) throw new Error(`visp: ${left} links left after deleteSlice`);
    return { provision: p.s, noop: noop.s, noopFirst: first.s, noopSteps, noopMessages, provisionMessages, teardown: t.s, state };
  } finally {
    k.close();
    env.done();
  }
}

async function ipBatchTrial(o: Options, want: string[] | undefined): Promise<{ provision: number; teardown: number }> {
  const env = freshEnv(o);
  try {
    const cmds = ipProvisionCommands(env.node, env.specs);
    await quiet();
    const p = await timed(() => runIpBatches(cmds));
    const state = endState(env.node, env.exps);
    assertSame('ip -batch', state, want);
    log(`  ip -batch      ${p.s.toFixed(3)} s (${cmds.length} commands, ${batches(cmds).length} processes): same end state`);

    await quiet();
    const del = ipDeleteCommands(env.node, env.specs);
    const t = await timed(() => runIpBatches(del));
    const left = leftovers([env.node, ...env.exps]);
    log(`  ip -batch del  ${t.s.toFixed(3)} s (one link del per link, ${del.length} commands), ${left} links left`);
    if (left) throw new Error(`ip -batch: ${left} links left after teardown`);
    return { provision: p.s, teardown: t.s };
  } finally {
    env.done();
  }
}

function runToolAsync(tool: 'ip' | 'tc', args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = execFile(tool, args, { encoding: 'utf8', maxBuffer: 64 << 20 }, (err, _o, stderr) => (err ? reject(new Error(`${tool} ${args.slice(0, 3).join(' ')}: ${stderr.trim()}`)) : resolve()));
    c.stdin!.end(input);
  });
}

interface LoopDelay { p50_ms: number; p99_ms: number; max_ms: number; own_passes: number; neighbour_s: number }

/**
 * The agent's event-loop delay while a neighbour node is provisioned:
 * this process rebuilds 8 endpoints of its own node in a loop (reconcile,
 * delete, again), iproute2 builds N in the neighbour's namespace meanwhile.
 */
async function loopDelayTrial(o: Options, onLoop: boolean): Promise<LoopDelay> {
  const mine = freshEnv({ ...o, expNs: 1 }, 8);
  const nb = freshEnv(o);
  const k = new NodeKernel({ netns: mine.node });
  setSendOnLoop(onLoop);
  try {
    await quiet();
    const cmds = ipProvisionCommands(nb.node, nb.specs);
    const h = monitorEventLoopDelay({ resolution: 1 });
    let done = false;
    let passes = 0;
    const t0 = now();
    h.enable();
    const neighbour = (async () => { for (const b of batches(cmds)) await runToolAsync(b.tool, ['-n', b.netns, '-batch', '-'], b.lines); })().finally(() => { done = true; });
    while (!done) {
      const r = await k.reconcile(mine.specs);
      if (r.some((x) => x.error)) throw new Error(`own node: ${r.find((x) => x.error)!.error!.message}`);
      await k.deleteSlice(GROUP, mine.exps);
      passes++;
    }
    await neighbour;
    h.disable();
    const out = { p50_ms: round(h.percentile(50) / 1e6, 1), p99_ms: round(h.percentile(99) / 1e6, 1), max_ms: round(h.max / 1e6, 1), own_passes: passes, neighbour_s: round(now() - t0, 2) };
    log(`  event loop, sends ${onLoop ? 'on the loop (before)' : 'on the thread pool'}: delay p50 ${out.p50_ms} ms, p99 ${out.p99_ms} ms, max ${out.max_ms} ms over ${out.neighbour_s} s of neighbour provisioning (${passes} own rebuilds)`);
    return out;
  } finally {
    setSendOnLoop(false);
    k.close();
    nb.done();
    mine.done();
  }
}

/**
 * The kernel's floor for the teardown: the same objects built by `ip -batch`
 * and `tc -batch`, removed by iproute2 with one group delete in the node
 * namespace (what visp asks of the kernel too; the veth ends in the
 * experiments go with their peers, each device's clsact qdisc and filters
 * with the device). There is no bridge to delete any more, so no bridge's
 * rcu_barrier (its multicast teardown, under RTNL, once per bridge) is in
 * this floor; what is left is the devices' own unregistering, done for
 * all the group's devices at once (one unregister_netdevice_many).
 */
async function ipGroupTrial(o: Options): Promise<number> {
  const env = freshEnv(o);
  try {
    runIpBatches(ipProvisionCommands(env.node, env.specs));
    await quiet();
    // The experiments' veth ends go with their node-side peers.
    // Then the emptied anchor, as visp deletes it after a slice's teardown.
    const t = await timed(() => runIpBatches([{ netns: env.node, args: ['link', 'del', 'group', String(GROUP)] }, { netns: env.node, args: ['link', 'del', 'dev', ANCHOR] }]));
    const left = leftovers([env.node, ...env.exps]);
    log(`  ip group del   ${t.s.toFixed(3)} s (one group delete: the kernel's floor), ${left} links left`);
    if (left) throw new Error(`ip group delete: ${left} links left`);
    return t.s;
  } finally {
    env.done();
  }
}

async function ipEachTrial(o: Options, want: string[] | undefined): Promise<number> {
  const env = freshEnv(o);
  const dir = mkdtempSync(join(tmpdir(), 'vb-'));
  try {
    const sample = env.specs.slice(0, o.eachSample);
    const cmds = ipProvisionCommands(env.node, sample);
    const script = join(dir, 'provision.sh');
    writeFileSync(script, perCommandScript(cmds));
    await quiet();
    const p = await timed(() => {
      const r = spawnSync('sh', [script], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ip per operation: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
    });
    const state = endState(env.node, env.exps);
    // Same lines as visp's for the endpoints in the sample, and the node's anchor (src/bridge/anchor.ts).
    const sampled = new Set(sample.map((s) => s.link));
    assertSame('ip per operation', state, want?.filter((l) => { const m = / alias visp:[^/]+\/(\S+)/.exec(l); return (m && sampled.has(m[1]!)) || l.startsWith(`node ${ANCHOR} `); }));
    const scaled = (p.s * o.n) / sample.length;
    log(`  ip each        ${p.s.toFixed(3)} s for ${sample.length} endpoints (${cmds.length} processes) → ${scaled.toFixed(3)} s for ${o.n}`);
    ipIn(env.node, 'link', 'del', 'group', String(GROUP)); // the veth ends in the experiments go with their peers
    return scaled;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    env.done();
  }
}

/**
 * One visp run taken apart: the phases NodeKernel.reconcile goes through
 * (resolve, snapshot, plan, apply), with our own sockets so every request
 * and datagram is counted by operation.
 */
async function profile(o: Options): Promise<Record<string, unknown>> {
  const env = freshEnv(o);
  const sockets = new Map<string, NetlinkSocket>([[env.node, new NetlinkSocket({ netns: env.node })]]);
  for (const ns of env.exps) sockets.set(ns, new NetlinkSocket({ netns: ns }));
  const ops = new Map<string, number>();
  for (const [ns, s] of sockets) {
    const role = ns === env.node ? 'node' : 'exp';
    const orig = s.request.bind(s);
    s.request = (type, flags, payload, ctx) => {
      const key = `${role} ${ctx.op}`;
      ops.set(key, (ops.get(key) ?? 0) + 1);
      return orig(type, flags, payload, ctx);
    };
  }
  const node = sockets.get(env.node)!;
  const phase: Record<string, number> = {};
  const cpu = process.cpuUsage();
  try {
    await quiet();
    const t0 = now();
    const resolved = env.specs.map(resolveEndpoint);
    phase.resolve_s = now() - t0;
    const snap = async (): Promise<{ nodeView: NsView; exp: Map<string, NsView> }> => {
      const nodeView = await readView(node, {});
      const exp = new Map<string, NsView>();
      await Promise.all(env.exps.map(async (ns) => { exp.set(ns, await readView(sockets.get(ns)!, { addrs: true })); }));
      return { nodeView, exp };
    };
    const t1 = now();
    let v = await snap();
    phase.snapshot_s = now() - t1;
    const t2 = now();
    const plans: Step[][] = resolved.map((r) => planEndpoint(r, v.nodeView, v.exp.get(r.spec.netns)!));
    phase.plan_s = now() - t2;
    const cpuBefore = process.cpuUsage();
    const busyBefore = cpuBusySeconds();
    const t3 = now();
    // As NodeKernel.reconcile: 256 endpoints in flight, each endpoint's steps in order.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < resolved.length) {
        const i = next++;
        const r = resolved[i]!;
        await withNetnsFd(r.spec.netns, (fd) => applySteps(r, plans[i]!, { node, exp: sockets.get(r.spec.netns)!, expFd: fd }));
      }
    };
    await Promise.all(Array.from({ length: 256 }, worker));
    phase.apply_s = now() - t3;
    const applyCpu = process.cpuUsage(cpuBefore);
    phase.apply_user_s = applyCpu.user / 1e6;
    phase.apply_sys_s = applyCpu.system / 1e6;
    // Kernel work done outside our process (addrconf, linkwatch, RCU), and anyone else's.
    phase.apply_all_cpus_busy_s = cpuBusySeconds() - busyBefore;
    const applied = new Map(ops);
    const datagrams = { node: node.stats.datagrams, exp: env.exps.reduce((a, ns) => a + sockets.get(ns)!.stats.datagrams, 0) };

    await quiet();
    const t4 = now();
    v = await snap();
    phase.noop_snapshot_s = now() - t4;
    const t5 = now();
    const noopSteps = resolved.reduce((a, r) => a + planEndpoint(r, v.nodeView, v.exp.get(r.spec.netns)!).length, 0);
    phase.noop_plan_s = now() - t5;
    const t6 = now();
    env.specs.map(resolveEndpoint);
    phase.noop_resolve_s = now() - t6;

    await quiet();
    const t7 = now();
    await linkDelGroup(node, GROUP);
    phase.teardown_node_s = now() - t7;
    const t8 = now();
    for (const ns of env.exps) await linkDelGroup(sockets.get(ns)!, GROUP);
    phase.teardown_exp_s = now() - t8;

    const total = process.cpuUsage(cpu);
    for (const [k2, x] of Object.entries(phase)) phase[k2] = round(x);
    const out = {
      phases: phase, noop_steps: noopSteps,
      messages: Object.fromEntries([...applied].sort()), datagrams,
      messages_per_endpoint: round([...applied].filter(([k2]) => !k2.endsWith('List')).reduce((a, [, c]) => a + c, 0) / o.n, 2),
      cpu_user_s: round(total.user / 1e6), cpu_sys_s: round(total.system / 1e6),
    };
    log(`profile: ${JSON.stringify(out, null, 1)}`);
    return out;
  } finally {
    for (const s of sockets.values()) s.close();
    env.done();
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  cleanupOnSignal();
  if (process.getuid?.() !== 0) throw new Error('the provision benchmark needs root (CAP_NET_ADMIN) to create network namespaces');
  log(`provision benchmark: n=${o.n}, ${o.trials} trials, ${o.expNs} experiment namespaces, ip per operation on ${o.eachSample} endpoints`);
  await capabilities(); // probed once per process (a scratch namespace); not part of any measurement

  const visp: VispTrial[] = [];
  const batch: Array<{ provision: number; teardown: number }> = [];
  const each: number[] = [];
  const group: number[] = [];
  for (let t = 1; t <= o.trials; t++) {
    log(`trial ${t}/${o.trials}`);
    visp.push(await vispTrial(o));
    batch.push(await ipBatchTrial(o, visp[0]!.state));
    group.push(await ipGroupTrial(o));
    each.push(await ipEachTrial(o, visp[0]!.state));
  }
  const prof = o.profile ? await profile(o) : undefined;
  log('the agent\'s event loop while a neighbour node is provisioned');
  const loopThread = await loopDelayTrial(o, false);
  const loopOnLoop = await loopDelayTrial(o, true);

  const m = {
    visp: median(visp.map((x) => x.provision)), noop: median(visp.map((x) => x.noop)), teardown: median(visp.map((x) => x.teardown)),
    batch: median(batch.map((x) => x.provision)), batchTeardown: median(batch.map((x) => x.teardown)), each: median(each),
    groupTeardown: median(group),
  };
  const ratios = { visp_vs_ip_batch: m.visp / m.batch, noop_vs_provision: m.noop / m.visp, teardown_vs_one_by_one: m.teardown / m.batchTeardown };
  const result = {
    n: o.n,
    visp_s: round(m.visp), ip_batch_s: round(m.batch), ip_each_s: round(m.each),
    ...(o.eachSample < o.n ? { ip_each_sampled: o.eachSample } : {}),
    noop_s: round(m.noop), noop_first_after_build_s: round(median(visp.map((x) => x.noopFirst))), teardown_s: round(m.teardown), ip_batch_teardown_s: round(m.batchTeardown),
    visp_vs_ip_batch: round(ratios.visp_vs_ip_batch), noop_vs_provision: round(ratios.noop_vs_provision),
    noop_first_vs_provision: round(median(visp.map((x) => x.noopFirst)) / m.visp),
    noop_is: 'a pass over unchanged endpoints in steady state (views kept while the kernel\'s notifications say nothing changed; dumped every 30 s); noop_first_after_build_s: the pass right after the build, which dumps',
    teardown_vs_one_by_one: round(ratios.teardown_vs_one_by_one),
    ip_group_teardown_s: round(m.groupTeardown),
    kernel_floor_teardown_vs_one_by_one: round(m.groupTeardown / m.batchTeardown),
    teardown_vs_kernel_floor: round(m.teardown / m.groupTeardown),
    visp_vs_ip_each: round(m.visp / m.each),
    one_by_one: 'ip -batch, one link del per link',
    targets_met: {
      visp_vs_ip_batch: ratios.visp_vs_ip_batch <= 1.5, visp_vs_ip_batch_goal: ratios.visp_vs_ip_batch <= 1.2,
      noop_vs_provision: ratios.noop_vs_provision <= 0.05, teardown_vs_one_by_one: ratios.teardown_vs_one_by_one <= 0.1,
    },
    event_loop_delay_during_neighbour_provision: loopThread,
    event_loop_delay_sends_on_loop: loopOnLoop,
    noop_steps: Math.max(...visp.map((x) => x.noopSteps)), noop_messages: visp[0]!.noopMessages,
    provision_messages: visp[0]!.provisionMessages,
    trials: o.trials, exp_namespaces: o.expNs,
    samples: {
      visp_s: visp.map((x) => round(x.provision)), ip_batch_s: batch.map((x) => round(x.provision)), ip_each_s: each.map((x) => round(x)),
      noop_s: visp.map((x) => round(x.noop)), teardown_s: visp.map((x) => round(x.teardown)), ip_batch_teardown_s: batch.map((x) => round(x.teardown)),
      ip_group_teardown_s: group.map((x) => round(x)),
    },
    ...(unsettled ? { unsettled_measurements: unsettled } : {}),
    ...(prof ? { profile: prof } : {}),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  log(`provision benchmark failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exitCode = 1;
});
