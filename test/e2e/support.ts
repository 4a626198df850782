// End-to-end lab for the e2e suites: node namespaces joined by a hub bridge
// namespace (the underlay, 198.18.0.0/24 + 2001:db8:ff00::/64), a controller
// on a unix socket in a temp dir, one agent per node, and a client that
// speaks only the gRPC API, as an aggregate manager would. Everything is torn
// down by close(), including the experiment namespaces ("visp-<slice>-…")
// the agents created: slice ids carry the lab's random uid, so those names
// are the lab's own.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startAgent } from '../../src/api/agent-client.js';
import type { UnderlayCapacity } from '../../src/agent/underlay-capacity.js';
import { findGobgpd } from '../../src/bgp/speaker.js';
import { findProcesses } from '../../src/lab/processes.js';
import { connect, type VispClient } from '../../src/api/client.js';
import { startController, type ControllerHandle } from '../../src/api/controller-server.js';
import { alignDown, BITS, containsPrefix, formatAddress, lastOf, overlaps, parseAddress, type Prefix } from '../../src/ipam/prefix.js';
import type { IpamConfigSpec } from '../../src/ipam/types.js';
import type { Manifest__Output } from '../../src/api/gen/visp/v1/Manifest.js';
import type { TopologyLink } from '../../src/api/gen/visp/v1/TopologyLink.js';
import type { Topology } from '../../src/api/gen/visp/v1/Topology.js';
import { delNetns, ipIn, makeNetns, sh } from '../helpers/netns.js';
import { labPki, type LabPki } from '../helpers/lab-pki.js';
import type { TlsFiles } from '../../src/trust/tls.js';
import { waitFor } from '../helpers/wait.js';
import type { LogFn } from '../../src/log.js';

const run = promisify(execFile);

export type Manifest = Manifest__Output;
export type { Topology, TopologyLink };

export interface LabNode { name: string; ns: string; v4: string; v6: string }

export interface LabOptions {
  ipam?: IpamConfigSpec;
  sweepIntervalMs?: number;
  /** Start in-process agents (netns mode) for these nodes; default every node. */
  agents?: readonly string[];
  reconcileIntervalMs?: number;
  /** Per node, what its agent says its underlay carries (default: auto, the veth's 10 Gbit/s). */
  underlayCapacity?: Readonly<Record<string, UnderlayCapacity>>;
  /** Serve the controller's web page on this host:port (ControllerHandle.web then says where). */
  web?: string;
  /**
   * Serve Prometheus metrics: the controller's and every agent's, each on a
   * free port of 127.0.0.1 (ControllerHandle.metrics, Lab.metrics say where);
   * their certificates then also name 127.0.0.1, as a scraper checks.
   */
  metrics?: boolean;
  /** The controller's log (default: the lab's notes, text only). */
  controllerLog?: LogFn;
  /** Each in-process agent's log (default: the lab's notes, text only). */
  agentLog?: (node: string) => LogFn;
}

export interface Agent { close(): Promise<void>; metrics?: string }

export class Lab {
  /** The test run's token (see test/global-leak-check.ts) plus a random part: experiment namespaces are "visp-<tag><uid>-…". */
  readonly uid = `${process.env.VISP_TEST_RUN ?? 'x'}${randomBytes(3).toString('hex')}`;
  readonly dir = mkdtempSync(join(tmpdir(), 'visp-e2e-'));
  readonly address = `unix:${join(this.dir, 'controller.sock')}`;
  hub = '';
  nodes: LabNode[] = [];
  ctl: ControllerHandle | undefined;
  api!: VispClient;
  pki!: LabPki;
  readonly agents = new Map<string, Agent>();
  readonly log: string[] = [];

  constructor(readonly tag: string, readonly names: readonly string[], private readonly opts: LabOptions = {}) {}

  /** A slice id unique to this lab (its experiment namespaces are the lab's own). */
  slice(name: string): string { return `${this.tag}${this.uid}-${name}`; }

  node(name: string): LabNode { return this.nodes.find((n) => n.name === name)!; }

  async start(): Promise<this> {
    this.hub = makeNetns(`${this.tag}hub`);
    // The hub is a plain switch: no IPv6 of its own (no link-local addresses appearing later).
    for (const k of ['all', 'default']) sh('ip', ['netns', 'exec', this.hub, 'sysctl', '-qw', `net.ipv6.conf.${k}.disable_ipv6=1`]);
    ipIn(this.hub, 'link', 'add', 'br0', 'type', 'bridge');
    ipIn(this.hub, 'link', 'set', 'br0', 'up');
    this.nodes = this.names.map((name, i) => {
      const ns = makeNetns(`${this.tag}${name}`);
      const n = { name, ns, v4: `198.18.0.${i + 1}`, v6: `2001:db8:ff00::${i + 1}` };
      ipIn(this.hub, 'link', 'add', `p${i + 1}`, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', ns);
      ipIn(this.hub, 'link', 'set', `p${i + 1}`, 'master', 'br0', 'up');
      ipIn(ns, 'addr', 'add', `${n.v4}/24`, 'dev', 'ul0');
      ipIn(ns, '-6', 'addr', 'add', `${n.v6}/64`, 'dev', 'ul0', 'nodad');
      sh('ip', ['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv6.conf.ul0.accept_dad=0']);
      ipIn(ns, 'link', 'set', 'ul0', 'up');
      return n;
    });
    // The kernel adds ul0's link-local address (and its local route) a moment
    // after link up: wait, so that baselines taken now stay valid.
    await waitFor('link-local addresses on the underlay', () => this.nodes.every((n) =>
      ipIn(n.ns, '-6', 'route', 'show', 'table', 'local').includes('local fe80:')), 20_000, 50);
    this.pki = await labPki(join(this.dir, 'pki'), this.names, this.opts.metrics ? { serverIps: ['127.0.0.1'] } : {});
    this.ctl = await startController({
      listen: [{ address: this.address }], tls: this.pki.controller, storePath: ':memory:', log: this.opts.controllerLog ?? ((l) => this.note(`controller: ${l}`)),
      labPools: true, limits: { ratePerAm: { perSecond: 10_000, burst: 10_000 } }, tlsRefreshMs: 200,
      ...(this.opts.ipam ? { ipam: this.opts.ipam } : {}),
      ...(this.opts.sweepIntervalMs ? { sweepIntervalMs: this.opts.sweepIntervalMs } : {}),
      ...(this.opts.web ? { web: { listen: this.opts.web } } : {}),
      ...(this.opts.metrics ? { metrics: { listen: '127.0.0.1:0' } } : {}),
    });
    this.api = this.client();
    for (const name of this.opts.agents ?? this.names) await this.startAgent(name);
    await this.waitConnected(this.opts.agents ?? this.names);
    return this;
  }

  /**
   * A client that calls Links as the lab's aggregate manager and Operator as
   * its operator, each with its own certificate (so every e2e test exercises
   * the roles as a testbed would use them).
   */
  client(am: TlsFiles = this.pki.am, op: TlsFiles = this.pki.operator): VispClient {
    const a = connect(this.address, am);
    const o = connect(this.address, op);
    return { links: a.links, operator: o.operator, close: () => { a.close(); o.close(); } };
  }

  /** Each in-process agent's metrics endpoint (host:port), by node. */
  metrics(): Map<string, string> {
    return new Map([...this.agents].flatMap(([n, a]) => (a.metrics ? [[n, a.metrics] as const] : [])));
  }

  note(line: string): void {
    this.log.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
    if (this.log.length > 2000) this.log.splice(0, 500);
  }

  /** An in-process agent working on the node's namespace. */
  async startAgent(name: string): Promise<void> {
    const n = this.node(name);
    const a = await startAgent({
      controller: this.address, node: name, tls: this.pki.node(name), netns: n.ns, underlay: [n.v4, n.v6], runDir: this.dir,
      reconcileIntervalMs: this.opts.reconcileIntervalMs ?? 500, log: this.opts.agentLog?.(name) ?? ((l) => this.note(`agent ${name}: ${l}`)),
      ...(this.opts.underlayCapacity?.[name] !== undefined ? { underlayCapacity: this.opts.underlayCapacity[name] } : {}),
      ...(this.opts.metrics ? { metrics: { listen: '127.0.0.1:0' } } : {}),
    });
    this.agents.set(name, a);
  }

  async stopAgent(name: string): Promise<void> {
    const a = this.agents.get(name);
    this.agents.delete(name);
    await a?.close();
  }

  async waitConnected(names: readonly string[], connected = true): Promise<void> {
    await waitFor(`nodes ${names.join(', ')} ${connected ? 'connected' : 'disconnected'}`, async () => {
      const { nodes } = await this.api.operator.listNodes({});
      return names.every((n) => nodes.find((x) => x.name === n)?.connected === connected);
    });
  }

  /** Poll Status until the slice is in `state` (every sliver too). */
  async waitState(slice: string, state: string, timeoutMs = 20_000): Promise<Manifest> {
    let last: Manifest | undefined;
    try {
      await waitFor(`${slice} ${state}`, async () => {
        last = (await this.api.links.status({ slice })).manifest!;
        return last.operationalState === state && last.slivers.every((s) => s.operationalState === state);
      }, timeoutMs);
    } catch (e) {
      throw new Error(`${(e as Error).message}; last status: ${summary(last)}\n${this.log.slice(-30).join('\n')}`);
    }
    return last!;
  }

  /** The experiment namespaces of this lab's slices that exist now. */
  experimentNamespaces(): string[] {
    return readdirSync('/run/netns').filter((n) => n.startsWith(`visp-${this.tag}${this.uid}-`));
  }

  async close(): Promise<void> {
    for (const name of [...this.agents.keys()]) await this.stopAgent(name).catch(() => undefined);
    // Agents leave their BGP speakers and engines running on purpose (the next agent adopts them); the lab ends them.
    for (const n of this.nodes) {
      const pids = [findGobgpd(join(this.dir, `bgp-${n.name}.sock`)), ...findProcesses(['--control', join(this.dir, `engine-${n.name}.sock`)])];
      for (const pid of pids) if (pid !== undefined) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    this.api?.close();
    await this.ctl?.close().catch(() => undefined);
    for (const ns of this.experimentNamespaces()) delNetns(ns);
    for (const n of this.nodes) delNetns(n.ns);
    if (this.hub) delNetns(this.hub);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const VISP = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Agents as their own processes — `visp agent` itself, one per node — for
 * tests that kill and restart them; the Lab is then started with
 * `agents: []`. They run under `nsenter --net=…`, not `ip netns exec`: the
 * latter also gives the process a private mount namespace (slave of the
 * host's), so experiment namespaces the agent creates with `ip netns add`
 * would exist only there — invisible to the host, and gone with the agent.
 */
export class AgentProcesses {
  private readonly procs = new Map<string, ChildProcess>();
  /** Each node's agent log (stderr lines), kept across restarts. */
  readonly logs = new Map<string, string[]>();

  constructor(private readonly lab: Lab) {}

  get(node: string): ChildProcess | undefined { return this.procs.get(node); }

  /** Start node's agent in its namespace; resolves once it has started and dials (its "dialing" log line). */
  async start(node: string, extraArgs: readonly string[] = []): Promise<ChildProcess> {
    const n = this.lab.node(node);
    const tls = this.lab.pki.node(node);
    const p = spawn('nsenter', [`--net=/run/netns/${n.ns}`, '--', process.execPath, '--import', 'tsx', VISP, 'agent',
      '--controller', this.lab.address, '--node', node, '--underlay', `${n.v4},${n.v6}`, '--reconcile-interval', '500',
      '--tls-ca', tls.ca, '--tls-cert', tls.cert, '--tls-key', tls.key, ...extraArgs],
    { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    this.procs.set(node, p);
    const log = this.logs.get(node) ?? [];
    this.logs.set(node, log);
    const started = `visp agent ${node}: dialing `;
    await new Promise<void>((resolve, reject) => {
      let partial = '';
      p.stderr!.on('data', (d: Buffer) => {
        const lines = (partial + d.toString()).split('\n');
        partial = lines.pop()!;
        log.push(...lines.filter(Boolean));
        if (lines.some((l) => l.includes(started))) resolve();
      });
      p.on('exit', (code, sig) => reject(new Error(`agent ${node} exited (${code ?? sig}) while starting: ${[...log.slice(-5), partial].join(' | ')}`)));
    });
    return p;
  }

  /** Send `signal` and wait for the exit (SIGKILL after 5 s). */
  async kill(node: string, signal: NodeJS.Signals): Promise<void> {
    const p = this.procs.get(node);
    this.procs.delete(node);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await Promise.race([gone, sleep(5000).then(() => p.kill('SIGKILL'))]);
    await gone;
  }

  /** SIGTERM every agent still running, one after another. */
  async stopAll(): Promise<void> {
    for (const node of [...this.procs.keys()]) await this.kill(node, 'SIGTERM');
  }
}

export function summary(m: Manifest | undefined): string {
  if (!m) return 'none';
  return `${m.operationalState} [${m.slivers.map((s) => `${s.link}=${s.operationalState.replace('OPERATIONAL_STATE_', '')}${s.error ? `(${s.error})` : ''}`).join(' ')}]`;
}

export { waitFor };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- topology builders -------------------------------------------------------------

export const DUAL = { ipv4: { enabled: true }, ipv6: { enabled: true } } as const;

export function p2p(id: string, a: string, b: string, extra: Partial<TopologyLink> = {}): TopologyLink {
  return { id, members: [{ node: a }, { node: b }], encapsulation: 'ENCAPSULATION_VXLAN', ...DUAL, ...extra };
}

export function lan(id: string, members: readonly string[], extra: Partial<TopologyLink> = {}): TopologyLink {
  return { id, members: members.map((node) => ({ node })), encapsulation: 'ENCAPSULATION_VXLAN', ...DUAL, ...extra };
}

// ---- what the experiment sees ------------------------------------------------------

/** Ping from an experiment namespace (async, so many can run at once). */
export async function pingAsync(ns: string, dst: string, count = 2, waitS = 2): Promise<boolean> {
  try {
    await run('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', String(waitS), dst]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every member of every link pings every other member, over each family the
 * link has. A manifest with no link, or a link with nothing to ping, is a
 * failure too: an empty list must mean pings were sent and all answered.
 */
export async function pingNeighbours(m: Manifest): Promise<string[]> {
  const jobs: Array<Promise<string | undefined>> = [];
  if (!m.slivers.length) jobs.push(Promise.resolve(`${m.slice}: no link to ping across`));
  for (const s of m.slivers) {
    const n = jobs.length;
    for (const from of s.endpoints) {
      for (const to of s.endpoints) {
        if (from === to) continue;
        for (const cidr of to.addresses) {
          const dst = cidr.split('/')[0]!;
          jobs.push(pingAsync(from.netns, dst).then((ok) => (ok ? undefined : `${s.link}: ${from.node} → ${to.node} ${dst}`)));
        }
      }
    }
    if (jobs.length === n) jobs.push(Promise.resolve(`${s.link}: nothing to ping (${s.endpoints.length} endpoints, no addresses)`));
  }
  return (await Promise.all(jobs)).filter((x): x is string => !!x);
}

export const stripLen = (cidr: string): string => cidr.split('/')[0]!;

// ---- prefix arithmetic on what manifests say (the IPAM's own, src/ipam/prefix.ts) ----

/** "192.0.2.1/31" (an interface address), "192.0.2.0/27" or a bare address, as the prefix it lies in. */
function prefixOf(cidr: string): Prefix {
  const a = parseAddress(stripLen(cidr), cidr);
  const length = cidr.includes('/') ? Number(cidr.split('/')[1]) : BITS[a.family];
  return { family: a.family, start: alignDown(a.family, a.value, length), length };
}
/** Is `inner` (a prefix or an interface address) inside the prefix `outer`? False across families. */
export const within = (inner: string, outer: string): boolean => containsPrefix(prefixOf(outer), prefixOf(inner));
export const overlap = (a: string, b: string): boolean => overlaps(prefixOf(a), prefixOf(b));
/** The last address of an IPv4 prefix: its broadcast address. */
export const v4broadcast = (cidr: string): string => formatAddress('ipv4', lastOf(prefixOf(cidr)));

// ---- what the nodes hold --------------------------------------------------------------

export type IpLink = Record<string, any>;
export const links = (ns: string): IpLink[] => JSON.parse(ipIn(ns, '-d', '-j', 'link', 'show')) as IpLink[];

const VISP_NAME = /^v[bht][a-z2-7]{8}$/;
/** Links that visp built: its alias, or one of its generated names. */
export const vispObjects = (ns: string): string[] =>
  links(ns).filter((l) => String(l.ifalias ?? '').startsWith('visp:') || VISP_NAME.test(l.ifname)).map((l) => l.ifname as string);

export interface NsSnapshot { links: string[]; fdb: string[]; routes: string[] }

/** Everything teardown must restore in a namespace: links (name + kind), FDB entries, routes of every table. */
export function snapshot(ns: string): NsSnapshot {
  const l = links(ns).map((x) => `${x.ifname} ${x.linkinfo?.info_kind ?? x.link_type}`).sort();
  const fdb = (JSON.parse(sh('bridge', ['-n', ns, '-j', 'fdb', 'show'])) as IpLink[]).map((e) => `${e.mac} ${e.ifname ?? ''} ${e.dst ?? ''} ${e.vlan ?? ''}`).sort();
  const routes = ['-4', '-6'].flatMap((f) => ipIn(ns, f, 'route', 'show', 'table', 'all').split('\n').filter(Boolean)).sort();
  return { links: l, fdb, routes };
}

/**
 * What differs from the baseline in each namespace (links, FDB entries,
 * routes), what visp left anywhere (its objects), and which of the lab's
 * experiment namespaces still exist. Empty when teardown was complete.
 */
export function leftovers(lab: Lab, baseline: ReadonlyMap<string, NsSnapshot>): string[] {
  const out: string[] = [];
  for (const [ns, before] of baseline) {
    const now = snapshot(ns);
    if (ns === lab.hub) now.fdb = [];
    for (const k of ['links', 'fdb', 'routes'] as const) {
      for (const x of now[k]) if (!before[k].includes(x)) out.push(`${ns}: extra ${k.slice(0, -1)} "${x}"`);
      for (const x of before[k]) if (!now[k].includes(x)) out.push(`${ns}: missing ${k.slice(0, -1)} "${x}"`);
    }
    for (const o of vispObjects(ns)) out.push(`${ns}: visp object ${o}`);
  }
  for (const ns of lab.experimentNamespaces()) {
    out.push(`experiment namespace ${ns} still exists (links: ${links(ns).map((l) => l.ifname).join(', ')})`);
  }
  return out;
}

/**
 * Wait for a teardown (the lab's experiment namespaces gone, no visp object
 * on any node: cheap to poll), then compare everything with the baseline.
 */
export async function tornDown(lab: Lab, before: ReadonlyMap<string, NsSnapshot>, timeoutMs = 15_000): Promise<string[]> {
  await waitFor('teardown', () => lab.experimentNamespaces().length === 0 && lab.nodes.every((n) => vispObjects(n.ns).length === 0), timeoutMs, 100)
    .catch(() => undefined);
  return leftovers(lab, before);
}

/** Baseline of every node namespace and of the hub (which learns MACs: links and routes only there). */
export function baseline(lab: Lab): Map<string, NsSnapshot> {
  const hub = snapshot(lab.hub);
  return new Map([...lab.nodes.map((n) => [n.ns, snapshot(n.ns)] as const), [lab.hub, { ...hub, fdb: [] }]]);
}

/** Interface counters (rx/tx packets) of a link in a namespace, from iproute2. */
export function counters(ns: string, ifname: string): { rx: number; tx: number } {
  const l = (JSON.parse(ipIn(ns, '-s', '-j', 'link', 'show', 'dev', ifname)) as IpLink[])[0]!;
  return { rx: l.stats64.rx.packets as number, tx: l.stats64.tx.packets as number };
}

export function ifindex(ns: string, ifname: string): number {
  return (JSON.parse(ipIn(ns, '-j', 'link', 'show', 'dev', ifname)) as IpLink[])[0]!.ifindex as number;
}
