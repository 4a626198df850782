// A highly available visp on one machine, for the HA tests and the ha
// benchmark (namespaces made and removed by the caller's Namespaces): an
// etcd cluster of three (test/helpers/etcd-cluster.ts), several controllers
// as processes of their own (`visp controller`, each on a unix socket, all on
// the one etcd store), and lab nodes (namespaces on a hub bridge, 198.18.0.x)
// whose in-process agents are given every controller's address. Everything
// shares the etcd cluster's CA. close() removes all of it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startAgent } from '../../src/api/agent-client.js';
import { connect, type VispClient } from '../../src/api/client.js';
import { openEtcdStore, type EtcdStore } from '../../src/store/etcd-store.js';
import type { TlsFiles } from '../../src/trust/tls.js';
import { poll } from './bgp-env.js';
import { startEtcdCluster, type EtcdCluster, type Namespaces } from './etcd-cluster.js';

const ipIn = (ns: string, ...args: string[]): void => { execFileSync('ip', ['-n', ns, ...args], { stdio: 'ignore' }); };
const waitFor = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, everyMs: number): Promise<void> => { await poll(what, ok, timeoutMs, everyMs); };

// The CLI beside this module: compiled (dist/bench/lib → dist/src/cli/main.js) or TypeScript under tsx (tests).
const VISP = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../../src/cli/main.ts' : '../../src/cli/main.js', import.meta.url));
const NODE_ARGS = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : [];

export interface HaController { i: number; address: string; proc?: ChildProcess; log: string[] }

export class HaLab {
  readonly uid = `${process.env.VISP_TEST_RUN ?? 'x'}${randomBytes(3).toString('hex')}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'visp-ha-'));
  etcd!: EtcdCluster;
  store!: EtcdStore;
  hub = '';
  nodes: Array<{ name: string; ns: string; v4: string }> = [];
  controllers: HaController[] = [];
  readonly agents = new Map<string, { close(): Promise<void> }>();
  readonly agentLog = new Map<string, string[]>();
  am!: TlsFiles;

  constructor(readonly tag: string, readonly nodeNames: readonly string[], readonly controllerCount: number,
    readonly o: { netns: Namespaces; allocationTtlMs?: number; sweepMs?: number }) {}

  slice(name: string): string { return `${this.tag}${this.uid}-${name}`; }

  async start(): Promise<this> {
    this.etcd = await startEtcdCluster(join(this.dir, 'etcd'), { netns: this.o.netns, tag: `${this.tag}e` });
    this.store = await openEtcdStore(this.etcd.url(), { tls: this.etcd.clientTls });
    this.am = this.etcd.pki.am;
    this.hub = this.o.netns.make(`${this.tag}hub`);
    ipIn(this.hub, 'link', 'add', 'br0', 'type', 'bridge');
    ipIn(this.hub, 'link', 'set', 'br0', 'up');
    this.nodes = this.nodeNames.map((name, i) => {
      const ns = this.o.netns.make(`${this.tag}${name}`);
      const n = { name, ns, v4: `198.18.0.${i + 1}` };
      ipIn(this.hub, 'link', 'add', `p${i + 1}`, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', ns);
      ipIn(this.hub, 'link', 'set', `p${i + 1}`, 'master', 'br0', 'up');
      ipIn(ns, 'addr', 'add', `${n.v4}/24`, 'dev', 'ul0');
      ipIn(ns, 'link', 'set', 'ul0', 'up');
      return n;
    });
    const ttl = this.o.allocationTtlMs ?? 600_000;
    for (let i = 0; i < this.controllerCount; i++) {
      const c: HaController = { i, address: `unix:${join(this.dir, `c${i}.sock`)}`, log: [] };
      writeFileSync(join(this.dir, `c${i}.yaml`), [
        `listen: ["${c.address}"]`,
        `tls: { ca: ${this.etcd.clientTls.ca}, cert: ${this.etcd.clientTls.cert}, key: ${this.etcd.clientTls.key} }`,
        `store: "${this.etcd.url()}"`,
        'pools:',
        '  - { name: priv-a, prefix: 198.51.100.0/24, class: private, default_block_length: 29 }',
        '  - { name: priv-b, prefix: 192.0.2.0/24, class: private, default_block_length: 29 }',
        `cooldown_ms: 0`,
        `allocation_ttl_ms: ${ttl}`,
        `sweep_interval: ${this.o.sweepMs ?? 200}ms`,
        'limits: { rate_per_am: { per_second: 100000, burst: 100000 }, calls_per_am: 1000, slices_per_am: 100000 }',
      ].join('\n'));
      this.controllers.push(c);
    }
    // The first creates the store's pools; the others find them there.
    this.startController(0);
    await this.waitAnswers(0);
    for (let i = 1; i < this.controllerCount; i++) this.startController(i);
    for (let i = 1; i < this.controllerCount; i++) await this.waitAnswers(i);
    for (const [k, n] of this.nodes.entries()) await this.startAgent(n.name, k);
    await waitFor('every node connected', async () => {
      const nodes = (await this.op(0, (c) => c.operator.listNodes({}))).nodes;
      return this.nodeNames.every((n) => nodes.some((x) => x.name === n));
    }, 30_000, 200);
    return this;
  }

  startController(i: number): void {
    const c = this.controllers[i]!;
    const p = spawn(process.execPath, [...NODE_ARGS, VISP, 'controller', '--config', join(this.dir, `c${i}.yaml`)], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.proc = p;
    let buf = '';
    p.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) c.log.push(`${Date.now()} ${l}`);
    });
  }

  kill(i: number): void {
    this.controllers[i]!.proc?.kill('SIGKILL');
    this.controllers[i]!.proc = undefined;
  }

  async waitAnswers(i: number): Promise<void> {
    await waitFor(`controller ${i} answering`, async () => {
      try { await this.op(i, (c) => c.operator.listNodes({})); return true; } catch { return false; }
    }, 60_000, 200);
  }

  /** One call on controller i with the operator's certificate. */
  async op<T>(i: number, fn: (c: VispClient) => Promise<T>): Promise<T> {
    const c = connect(this.controllers[i]!.address, this.etcd.pki.operator);
    try { return await fn(c); } finally { c.close(); }
  }

  /** The aggregate manager's client of controller i (close it). */
  client(i: number): VispClient { return connect(this.controllers[i]!.address, this.am); }

  /** An in-process agent for the node, given every controller, starting with the (k mod n)th. */
  async startAgent(name: string, k: number): Promise<void> {
    const n = this.nodes.find((x) => x.name === name)!;
    const tls = await this.etcd.pki.issue('node', name);
    const order = this.controllers.map((_, j) => this.controllers[(j + k) % this.controllers.length]!.address);
    const log: string[] = [];
    this.agentLog.set(name, log);
    const a = await startAgent({
      controller: order.join(','), node: name, tls, netns: n.ns, underlay: [n.v4], runDir: this.dir, reconcileIntervalMs: 500,
      log: (l) => log.push(`${Date.now()} ${l}`),
    });
    this.agents.set(name, a);
  }

  /** Which controller a node's agent is connected to now (its last "connected to"). */
  agentOn(name: string): number | undefined {
    const line = [...(this.agentLog.get(name) ?? [])].reverse().find((l) => l.includes(' connected to '));
    const addr = line?.split(' connected to ')[1]?.split(' as ')[0];
    const i = this.controllers.findIndex((c) => c.address === addr);
    return i < 0 ? undefined : i;
  }

  /** The leader key's value (identity@host:pid) and its revision, from the store. */
  async leader(): Promise<{ who: string; pid: number; revision: number } | undefined> {
    const e = (await this.store.read([{ key: 'leader/duties' }])).results[0]![0];
    if (!e) return undefined;
    return { who: e.value, pid: Number(e.value.split(':').pop()), revision: e.modRevision };
  }

  async close(): Promise<void> {
    for (const [, a] of this.agents) await a.close().catch(() => undefined);
    for (const c of this.controllers) c.proc?.kill('SIGKILL');
    await this.store?.close();
    await this.etcd?.stop();
    // The experiment namespaces the agents made for this lab's slices (their names carry the lab's uid).
    for (const ns of readdirSync('/run/netns').filter((x) => x.startsWith(`visp-${this.tag}${this.uid}-`))) {
      try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ }
    }
    for (const n of this.nodes) this.o.netns.remove(n.ns);
    if (this.hub) this.o.netns.remove(this.hub);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
