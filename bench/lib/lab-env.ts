// A lab for benchmarks, built from visp's primitives only (not src/lab/):
// an emulated underlay (a hub namespace with a bridge, a veth to each node
// namespace, 198.18.0.0/15), the controller and every node's agent in one
// agent host process as lab mode runs them (or one process per agent), memory and CPU read from /proc per process. The lab
// has its own CA (bench/lib/bench-pki.ts): the controller serves mutual TLS
// on a second unix socket (agents with node certificates, the operator, any
// other AM a benchmark asks for) beside the plaintext socket that the bench's
// AM uses (`api`). Every
// namespace is "vb-…" and removed at the end, on error and on SIGINT/SIGTERM;
// every process we start is stopped by its pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { connect, type VispClient } from '../../src/api/client.js';
import type { Role } from '../../src/trust/identity.js';
import { benchPki, tlsArgs, type BenchPki } from './bench-pki.js';
import { removeAllScratch, removeNetns, removeProbes, scratchNetns, sh } from './scratch.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/bench/lib

export interface LabNode { name: string; netns: string; ipv4: string }
export interface Underlay { hub: string; nodes: LabNode[] }

/** Host number h (1-based) in 198.18.0.0/15. */
function underlayV4(h: number): string {
  if (h < 1 || h > 2 ** 17 - 2) throw new Error(`underlay host ${h} is outside 198.18.0.0/15`);
  return `198.${18 + (h >>> 16)}.${(h >>> 8) & 255}.${h & 255}`;
}

/** Hub with bridge br0; node i is "n<i>" in namespace vb-n<i>-…, ul0 = 198.18.x.y/15. */
function buildUnderlay(n: number): Underlay {
  const hub = scratchNetns('hub');
  const nodes: LabNode[] = [];
  for (let i = 0; i < n; i++) nodes.push({ name: `n${i}`, netns: scratchNetns(`n${i}`), ipv4: underlayV4(i + 1) });
  const hubLines = ['link add br0 type bridge stp_state 0 mcast_snooping 0', 'link set br0 up'];
  nodes.forEach((x, i) => hubLines.push(`link add p${i} type veth peer name ul0 netns ${x.netns}`, `link set p${i} master br0`, `link set p${i} up`));
  sh('ip', ['-n', hub, '-batch', '-'], `${hubLines.join('\n')}\n`);
  for (const x of nodes) sh('ip', ['-n', x.netns, '-batch', '-'], `addr add ${x.ipv4}/15 dev ul0\nlink set ul0 up\n`);
  return { hub, nodes };
}

/** Everything a process costs, from /proc. */
export interface ProcStat { rssKb: number; hwmKb: number; cpuS: number }
const CLK_TCK = 100;

function procStat(pid: number): ProcStat | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), cpuS: (Number(f[11]) + Number(f[12])) / CLK_TCK };
  } catch {
    return undefined;
  }
}

/** A process we started (node …), its log in the lab's directory. */
export interface Proc { name: string; child: ChildProcess; pid: number; logFile: string }

export class Lab {
  readonly dir = mkdtempSync(join(tmpdir(), 'vb-lab-'));
  /** The plaintext socket: every caller is the bench's AM (BENCH_AM). */
  readonly address = `unix:${join(this.dir, 'controller.sock')}`;
  /** The mutual-TLS socket (agents, the operator, other AMs). */
  readonly tlsAddress = `unix:${join(this.dir, 'controller-tls.sock')}`;
  /** Every address the controller bound (a TCP port 0 replaced by the real one), plaintext first. */
  addresses: string[] = [];
  pki: BenchPki | undefined;
  readonly underlay: Underlay;
  controller: Proc | undefined;
  readonly agents: Proc[] = [];
  /** Experiment namespaces the agents create for us (names we chose): removed at the end. */
  readonly expNamespaces = new Set<string>();
  /** Keep the directory with the processes' logs (and say where). */
  keepLogs = false;
  private client: VispClient | undefined;
  private opClient: VispClient | undefined;
  private readonly clients: VispClient[] = [];
  private closed = false;

  constructor(n: number) {
    live.add(this);
    this.underlay = buildUnderlay(n);
  }

  /** The bench's AM, over the plaintext socket. */
  get api(): VispClient {
    this.client ??= connect(this.address);
    return this.client;
  }

  /** The lab's operator (operator/bench), over mutual TLS. */
  get operatorApi(): VispClient {
    this.opClient ??= this.connectAs('operator', 'bench');
    return this.opClient;
  }

  /** A new client with the certificate of role/name (given to startController), over mutual TLS; closed with the lab. */
  connectAs(role: Role, name: string, address = this.tlsAddress): VispClient {
    if (!this.pki) throw new Error('lab: start the controller first (it makes the certificates)');
    const c = connect(address, this.pki.files(role, name));
    this.clients.push(c);
    return c;
  }

  get procs(): Proc[] { return [...(this.controller ? [this.controller] : []), ...this.agents]; }

  private start(name: string, argv: string[]): Proc {
    const logFile = join(this.dir, `${name}.log`);
    const fd = openSync(logFile, 'a', 0o600);
    try {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd] });
      if (child.pid === undefined) throw new Error(`cannot start ${argv.join(' ')}`);
      child.on('error', () => undefined);
      return { name, child, pid: child.pid, logFile };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Makes the lab's certificates (the controller's, one per node, operator/bench,
   * and `identities`), then starts the controller: plaintext socket, TLS
   * socket, and any `tlsListen` addresses (e.g. 127.0.0.1:0) with TLS too.
   */
  async startController(opts: { trace?: boolean; tlsListen?: string[]; identities?: Array<{ role: Role; name: string }>; nodeArgs?: string[] } = {}): Promise<void> {
    this.pki = await benchPki(join(this.dir, 'pki'), [
      { role: 'controller', name: 'controller' }, { role: 'operator', name: 'bench' },
      ...this.underlay.nodes.map((x) => ({ role: 'node' as const, name: x.name })), ...(opts.identities ?? []),
    ]);
    this.controller = this.start('controller', [process.execPath, ...(opts.nodeArgs ?? []), join(here, 'controller-proc.js'), '--listen', this.address, '--store', join(this.dir, 'store', 'visp.db'),
      ...[this.tlsAddress, ...(opts.tlsListen ?? [])].flatMap((a) => ['--tls-listen', a]), ...tlsArgs(this.pki.files('controller', 'controller')), ...(opts.trace ? ['--trace'] : [])]);
    const until = Date.now() + 20_000;
    for (;;) {
      this.assertAlive(this.controller);
      const bound = /^bench-listening (.*)$/m.exec(readFileSync(this.controller.logFile, 'utf8'));
      if (bound) {
        this.addresses = bound[1]!.split(' ');
        try { await this.api.links.getVersion({}); return; } catch { /* not yet */ }
      }
      if (Date.now() > until) throw new Error(`controller did not answer within 20 s; log: ${this.controller.logFile}`);
      await sleep(50);
    }
  }

  /**
   * Every node's agent, as lab mode runs them: all in one agent host process
   * (agent-host-proc.ts), each in its node's namespace; or, with `perProcess`,
   * one process per node (nsenter --net: the node's network, the host's
   * mounts), as labs ran before. Resolves when all are connected.
   */
  async startAgents(opts: { timeoutMs?: number; trace?: boolean; loopDelay?: boolean; perProcess?: boolean; nodeArgs?: (node: string) => string[] } = {}): Promise<void> {
    if (!this.pki) throw new Error('lab: start the controller before the agents');
    const nodes = this.underlay.nodes;
    if (opts.perProcess) {
      for (const x of nodes) {
        this.agents.push(this.start(`agent-${x.name}`, ['nsenter', `--net=/run/netns/${x.netns}`, '--', process.execPath, ...(opts.nodeArgs?.(x.name) ?? []), join(here, 'agent-proc.js'),
          '--controller', this.tlsAddress, '--node', x.name, ...tlsArgs(this.pki!.files('node', x.name)), ...(opts.trace ? ['--trace'] : [])]));
      }
    } else {
      const file = join(this.dir, 'nodes.json');
      writeFileSync(file, JSON.stringify(nodes.map((x) => ({ name: x.name, netns: x.netns, underlay: [x.ipv4], tls: this.pki!.files('node', x.name) }))));
      this.agents.push(this.start('agents', [process.execPath, ...(opts.nodeArgs?.('host') ?? []), join(here, 'agent-host-proc.js'), '--controller', this.tlsAddress, '--nodes', file,
        '--run-dir', this.dir, ...(opts.trace ? ['--trace'] : []), ...(opts.loopDelay ? ['--loop-delay'] : [])]));
    }
    const want = nodes.length;
    const until = Date.now() + (opts.timeoutMs ?? 120_000);
    for (;;) {
      for (const a of this.agents) this.assertAlive(a);
      const r = await this.api.links.listResources({});
      const up = r.nodes.filter((x) => x.connected).length;
      if (up === want) return;
      if (Date.now() > until) throw new Error(`${up}/${want} agents connected after ${opts.timeoutMs ?? 120_000} ms`);
      await sleep(100);
    }
  }

  private assertAlive(p: Proc): void {
    if (p.child.exitCode !== null || p.child.signalCode !== null) {
      const tail = readFileSync(p.logFile, 'utf8').trim().split('\n').slice(-5).join('\n  ');
      throw new Error(`${p.name} (pid ${p.pid}) exited (${p.child.exitCode ?? p.child.signalCode}):\n  ${tail}`);
    }
  }

  /** Stop our processes (SIGTERM, then SIGKILL), then remove experiment and node namespaces. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client?.close();
    for (const c of this.clients) c.close();
    await stopAll(this.agents);
    if (this.controller) await stopAll([this.controller]);
    for (const p of this.procs) removeProbes(p.pid);
    for (const ns of this.expNamespaces) if (existsSync(`/run/netns/${ns}`)) { try { sh('ip', ['netns', 'del', ns]); } catch { /* gone */ } }
    for (const x of this.underlay.nodes) removeNetns(x.netns);
    removeNetns(this.underlay.hub);
    if (this.keepLogs) process.stderr.write(`  logs kept in ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** The same teardown, synchronous (signal handlers, 'exit'). */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.procs) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
    for (const p of this.procs) removeProbes(p.pid);
    for (const ns of this.expNamespaces) if (existsSync(`/run/netns/${ns}`)) { try { sh('ip', ['netns', 'del', ns]); } catch { /* gone */ } }
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** Sum over the controller and every agent. */
  stats(): { controller: ProcStat; agents: ProcStat[] } {
    const zero = { rssKb: 0, hwmKb: 0, cpuS: 0 };
    return { controller: (this.controller && procStat(this.controller.pid)) ?? zero, agents: this.agents.map((a) => procStat(a.pid) ?? zero) };
  }
}

async function stopAll(ps: Proc[]): Promise<void> {
  const running = ps.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  const exited = running.map((p) => new Promise<void>((r) => p.child.once('exit', () => r())));
  for (const p of running) { try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ } }
  const all = Promise.all(exited);
  if (await Promise.race([all.then(() => true), sleep(5000).then(() => false)])) return;
  for (const p of running) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
  await all;
}

const live = new Set<Lab>();
let hooked = false;
/** On SIGINT/SIGTERM/exit: kill our processes, remove every namespace this run created. */
export function cleanupLabsOnSignal(): void {
  if (hooked) return;
  hooked = true;
  const all = (): void => { for (const l of [...live]) l.closeSync(); removeAllScratch(); };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping ${[...live].reduce((a, l) => a + l.procs.length, 0)} process(es), removing namespaces\n`);
      all();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  process.once('exit', all);
}

/** Sample summed RSS of the given processes every `everyMs`; the peak of the sum is what the lab held at once. */
export class RssSampler {
  peakKb = 0;
  samples = 0;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly pids: () => number[], everyMs = 200) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }
  sample(): void {
    let sum = 0;
    for (const pid of this.pids()) sum += procStat(pid)?.rssKb ?? 0;
    this.samples++;
    if (sum > this.peakKb) this.peakKb = sum;
  }
  stop(): void { if (this.timer) clearInterval(this.timer); this.sample(); }
}

/**
 * Where the lab's processes wait: every `everyMs`, each thread of the given
 * processes, of their children (iproute2 runs) and of kernel threads that is
 * running (R) or in uninterruptible sleep (D), counted by role and by the top
 * of its kernel stack. For finding which phase waits on what.
 */
export class WaitSampler {
  readonly counts = new Map<string, number>();
  samples = 0;
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly roles: () => Map<number, string>, private readonly everyMs = 100) {}

  start(): void { this.timer ??= setInterval(() => this.sample(), this.everyMs); }

  private sample(): void {
    const roles = this.roles();
    this.samples++;
    let pids: string[] = [];
    try { pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)); } catch { return; }
    for (const p of pids) {
      let stat: string;
      try { stat = readFileSync(`/proc/${p}/stat`, 'utf8'); } catch { continue; }
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const f = stat.slice(close + 2).split(' ');
      const ppid = Number(f[1]);
      const role = roles.get(Number(p)) ?? (roles.has(ppid) ? `${roles.get(ppid)}>${comm}` : ppid === 2 ? `kernel:${comm.replace(/[/:].*$/, '')}` : undefined);
      if (!role) continue;
      let tids: string[] = [p];
      try { tids = readdirSync(`/proc/${p}/task`); } catch { /* gone */ }
      for (const t of tids) {
        let st: string;
        try { st = readFileSync(`/proc/${p}/task/${t}/stat`, 'utf8'); } catch { continue; }
        const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
        if (state !== 'R' && state !== 'D') continue;
        let where = 'cpu';
        if (state === 'D') {
          try {
            const frames = readFileSync(`/proc/${p}/task/${t}/stack`, 'utf8').split('\n').map((l) => l.replace(/^\[<[0-9a-f]+>\] /, '').replace(/\+0x.*$/, ''))
              .filter((x) => x && !/^(__)?schedule|^schedule_|^io_schedule|^rwsem_down|^__mutex_lock|^mutex_lock|^down_|^wait_for_|^__wait|^do_syscall|^entry_SYSCALL|^__x64_sys|^x64_sys/.test(x));
            where = frames.slice(0, 3).join(' < ') || 'unknown';
          } catch { where = 'unknown'; }
        }
        const key = `${role.replace(/^agent-n\d+/, 'agent')} ${state} ${where}`;
        this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      }
    }
  }

  stop(): void { if (this.timer) clearInterval(this.timer); }

  /** The most frequent (role, state, stack) with their share of samples, as thread-samples per sample. */
  top(k = 12): Array<{ where: string; threads: number }> {
    return [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, k).map(([where, c]) => ({ where, threads: round2(c / Math.max(1, this.samples)) }));
  }
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
