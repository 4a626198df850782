// Lab mode: a whole vISP on this one machine. Every physical node of the
// topology becomes a network namespace joined to the others by an emulated
// underlay (underlay.ts); a controller (embedded store) and the agent host
// (one agent per node namespace, all in one process: agent-host.ts) run as
// detached processes; the topology goes in through the Links
// API exactly as an aggregate manager would send it (Allocate, Provision,
// Status until ready). `labDown` undoes all of it, also from a fresh process,
// and `labUp` undoes what it did when any step fails.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { status as grpcStatus } from '@grpc/grpc-js';
import { connect, type VispClient } from '../api/client.js';
import type { Manifest__Output } from '../api/gen/visp/v1/Manifest.js';
import type { NodeInfo__Output } from '../api/gen/visp/v1/NodeInfo.js';
import type { SliceInfo__Output } from '../api/gen/visp/v1/SliceInfo.js';
import type { Tunnel__Output } from '../api/gen/visp/v1/Tunnel.js';
import { AlreadyExistsError, IncompatibleStateError, InvalidSpecError, NotFoundError, UnavailableError } from '../errors.js';
import { physicalNodes, type TopologyFile } from '../topology/types.js';
import { parseTopologyPlaced } from '../topology/yaml.js';
import { findProcesses, isAlive, isOurs, logTail, spawnDetached, stopProcess } from './processes.js';
import { enumWord, toApiTopology } from './to-api.js';
import { ensureNeighbourRoom, neighboursNeeded } from './neighbours.js';
import { errorText, placeRefusal, rpcCode, withTimeout } from './rpc.js';
import { ensureLabRoot, LAB_TRUST_DOMAIN, labDir, labIdentities, labTls, listLabs, readState, tryReadState, writeState, type LabState } from './state.js';
import { ensurePki } from '../trust/lab-pki.js';
import type { TlsFiles } from '../trust/tls.js';
import { findGobgpd } from '../bgp/speaker.js';
import { birdMark, providerPlan, startProvider } from './providers.js';
import { builtLinks, createUnderlay, deleteNetns, hubNetns, listNetns, netnsExists, nodeNetns, underlayNamespaces, underlayPlan } from './underlay.js';

/** Lab names become namespace names, a directory and part of a unix socket path: keep them short and plain. */
const LAB_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
const UNIX_PATH_MAX = 107;

export interface LabUpOptions {
  /** Lab and slice name; default: the topology's `name`. */
  name?: string;
  /** How long to wait for every link to be ready. Default 60 s plus 1 s per link. */
  timeoutMs?: number;
  /** How long the controller and the agents may take to start and connect. Default 30 s. */
  startTimeoutMs?: number;
  /** The slice's lease, from now. Default 24 hours. */
  durationMs?: number;
  /** A line per step and while waiting (the CLI shows it on stderr). */
  progress?: (line: string) => void;
  signal?: AbortSignal;
  /** The visp CLI the daemons run; default: dist/src/cli/main.js of this build. */
  entry?: string;
}

export interface LabUpResult {
  state: LabState;
  manifest: Manifest__Output;
  tunnels: Tunnel__Output[];
}

export interface LabDownReport {
  name: string;
  /** The slice was deleted through the API (false: the controller did not answer). */
  deleted: boolean;
  stopped: string[];
  namespaces: string[];
  problems: string[];
}

export interface LabStatusReport {
  name: string;
  phase: LabState['phase'];
  file: string;
  dir: string;
  controller: { address: string; pid?: number; running: boolean; answering: boolean; error?: string };
  nodes: Array<{ name: string; netns: string; ipv4: string; ipv6: string; pid?: number; running: boolean; connected: boolean }>;
  slices: SliceInfo__Output[];
  experimentNetns: string[];
}

const MARK = {
  controller: (s: LabState) => [s.entry, 'controller', '--listen', s.controller],
  agent: (s: LabState, node: string) => [s.entry, 'agent', '--controller', s.controller, '--node', node],
  agentHost: (s: LabState) => [s.entry, 'lab', 'agents', s.name, '--dir', s.dir],
};

/** The file `visp lab agents` reads on SIGUSR2: nodes whose agent is to crash (tests). */
export const crashFile = (s: Pick<LabState, 'dir'>): string => join(s.dir, 'agent-host.crash');

export function checkLabName(name: string): void {
  if (!LAB_NAME.test(name)) {
    throw new InvalidSpecError(`lab name ${JSON.stringify(name)}: must be 1–32 letters, digits, ".", "_" or "-", starting with a letter or digit`, { field: 'name' });
  }
}

export function defaultEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [resolve(here, '../cli/main.js'), resolve(here, '../../dist/src/cli/main.js')]) if (existsSync(p)) return p;
  throw new UnavailableError('cannot find the visp CLI (dist/src/cli/main.js): build first (bash scripts/build.sh)');
}

/** Read and parse a topology file; errors name the file and line. */
export function readTopology(file: string): TopologyFile {
  return readTopologyPlaced(file).value;
}

/** Read and parse a topology file, and keep `place`: a controller's refusal of one of its fields, put at that field's line in the file. */
export function readTopologyPlaced(file: string): { value: TopologyFile; place: (e: unknown) => unknown } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new NotFoundError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
  }
  const { value, place } = parseTopologyPlaced(text, { file });
  return { value, place: (e) => placeRefusal(e, place) };
}

export async function labUp(file: string, opts: LabUpOptions = {}): Promise<LabUpResult> {
  const progress = opts.progress ?? (() => {});
  const { value: topo, place } = readTopologyPlaced(file);
  const name = opts.name ?? topo.name;
  checkLabName(name);
  topo.name = name;
  const entry = opts.entry ?? defaultEntry();
  const signal = opts.signal;

  ensureLabRoot();
  const dir = labDir(name);
  const socket = join(dir, 'controller.sock');
  if (Buffer.byteLength(socket) > UNIX_PATH_MAX) throw new InvalidSpecError(`lab socket path ${socket} is longer than ${UNIX_PATH_MAX} bytes; use a shorter lab name or VISP_LAB_ROOT`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new AlreadyExistsError(`lab "${name}" is already up (${dir}); take it down first: visp lab down ${name}`, { cause: e });
    }
    throw e;
  }

  const plan = underlayPlan(name, physicalNodes(topo));
  const state: LabState = {
    version: 1, name, file: resolve(file), dir, phase: 'starting', createdAt: new Date().toISOString(),
    controller: `unix:${socket}`, socket, store: join(dir, 'store.sqlite'), entry,
    hub: plan.hub, nodes: plan.nodes, namespaces: [], experimentNetns: [], pids: { agents: {} },
  };
  writeState(state);

  let client: VispClient | undefined;
  try {
    const taken = underlayNamespaces(plan).filter(netnsExists);
    if (taken.length) throw new AlreadyExistsError(`namespace ${taken.join(', ')} already exists; is another lab using the name "${name}"?`);

    // The kernel's neighbour tables are shared by every namespace: a big lab needs them bigger (neighbours.ts).
    const members = topo.topology.links.map((l) => ({ members: l.members.length + (l.egress ? 1 : 0) }));
    for (const line of ensureNeighbourRoom(neighboursNeeded(members))) progress(`kernel neighbour tables raised for ${members.length} links: ${line}`);

    const names = plan.nodes.map((n) => n.netns);
    const shown = names.length <= 6 ? names.join(', ') : `${names.slice(0, 3).join(', ')}, …, ${names.at(-1)}`;
    progress(`underlay: ${names.length} node namespaces (${shown}) on hub ${plan.hub}, 198.18.0.0/15 and 2001:db8:ffff::/64`);
    await createUnderlay(plan, (ns) => { state.namespaces.push(ns); writeState(state); }, signal);

    await ensurePki(join(dir, 'pki'), { trustDomain: LAB_TRUST_DOMAIN, identities: labIdentities(plan.nodes.map((n) => n.name)) });
    progress(`controller: ${state.controller} (mTLS, the lab's own CA in ${join(dir, 'pki')})`);
    state.pids.controller = spawnDetached([process.execPath, entry, 'controller', '--listen', state.controller, '--store', state.store, '--lab',
      ...tlsFlags(labTls(state, 'controller'))], join(dir, 'controller.log'));
    writeState(state);
    client = labClient(state);
    await waitForController(state, client, opts.startTimeoutMs ?? 30_000, signal);

    startAgentHost(state);
    await waitForAgents(state, client, opts.startTimeoutMs ?? 30_000, progress, signal);
    if (topo.egress?.length) await startEgress(state, topo, client, opts.startTimeoutMs ?? 60_000, progress, signal);

    const endTime = new Date(Date.now() + (opts.durationMs ?? 24 * 3600_000)).toISOString().replace(/\.\d+Z$/, 'Z');
    progress(`slice ${name}: Allocate (${topo.topology.nodes.length} routers, ${topo.topology.links.length} links)`);
    await client.links.allocate({ slice: name, topology: toApiTopology(topo.topology), endTime }).catch((e: unknown) => { throw place(e); });
    progress(`slice ${name}: Provision`);
    await client.links.provision({ slice: name });
    const manifest = await waitForReady(state, client, opts.timeoutMs ?? 60_000 + 1000 * topo.topology.links.length, progress, signal);

    const tunnels = (await client.operator.listTunnels({ slice: name })).tunnels;
    state.experimentNetns = uniq([...manifest.slivers.flatMap((s) => s.endpoints.map((e) => e.netns)), ...tunnels.map((t) => t.netns)]);
    state.phase = 'up';
    writeState(state);
    return { state, manifest, tunnels };
  } catch (e) {
    state.phase = 'failed';
    writeState(state);
    progress('cleaning up: removing everything this lab created');
    const report = await teardown(state, client, progress);
    if (report.problems.length) progress(`cleanup problems: ${report.problems.join('; ')}`);
    throw e;
  } finally {
    client?.close();
  }
}

/** Emulated providers (BIRD 2 namespaces), each egress node configured through the API, sessions up. */
async function startEgress(state: LabState, topo: TopologyFile, client: VispClient, timeoutMs: number, progress: (l: string) => void, signal?: AbortSignal): Promise<void> {
  const egress = topo.egress ?? [];
  const netnsOf = (node: string): string => state.nodes.find((n) => n.name === node)!.netns;
  state.providers = providerPlan(state.name, state.dir, egress, netnsOf);
  state.pids.providers = {};
  writeState(state);
  for (const p of state.providers) {
    progress(`provider ${p.name} (AS${p.asn}, BIRD 2) for ${p.egressNode}: ${p.netns}, host ${p.host.ipv4} ${p.host.ipv6}`);
    state.pids.providers[p.name] = await startProvider(p, netnsOf(p.egressNode), join(state.dir, `bird-${p.name}.log`), (ns) => { state.namespaces.push(ns); writeState(state); });
    writeState(state);
  }
  for (const e of egress) {
    const routerId = e.routerId ?? state.nodes.find((n) => n.name === e.node)!.ipv4;
    const providers = state.providers.filter((p) => p.egressNode === e.node);
    progress(`egress node ${e.node}: AS${e.asn}, router id ${routerId}, providers ${providers.map((p) => `${p.name} (AS${p.asn})`).join(', ')}`);
    await client.operator.setEgressNode({
      config: { node: e.node, asn: e.asn, routerId, providers: providers.flatMap((p) => [
        { address: p.theirs.ipv4, asn: p.asn, families: ['ipv4'] }, { address: p.theirs.ipv6, asn: p.asn, families: ['ipv6'] },
      ]) },
    });
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const nodes = (await withTimeout(client.operator.listBgp({}), 5000, 'ListBgp')).nodes;
    const peers = nodes.flatMap((n) => n.peers);
    const up = peers.filter((p) => p.state === 'established').length;
    if (peers.length && up === peers.length) { progress(`bgp: ${up}/${peers.length} sessions established`); return; }
    if (Date.now() > deadline) throw new UnavailableError(`bgp: ${up}/${peers.length} sessions established after ${Math.round(timeoutMs / 1000)} s (see visp bgp)`);
    await sleep(250, undefined, signal ? { signal } : undefined);
  }
}

async function waitForController(state: LabState, client: VispClient, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    signal?.throwIfAborted();
    if (!isAlive(state.pids.controller!)) {
      throw new UnavailableError(`the controller exited while starting: ${oneLine(logTail(join(state.dir, 'controller.log'), 3)) || 'no log'}`);
    }
    try {
      if (existsSync(state.socket)) { await withTimeout(client.links.getVersion({}), 2000, 'GetVersion'); return; }
    } catch (e) {
      last = errorText(e);
    }
    if (Date.now() > deadline) throw new UnavailableError(`the controller did not answer on ${state.controller} within ${Math.round(timeoutMs / 1000)} s${last ? ` (${last})` : ''}`);
    await sleep(100, undefined, signal ? { signal } : undefined);
  }
}

/** Start the agent host for every node of the lab (detached), and record its pid. */
function startAgentHost(state: LabState): void {
  state.pids.agentHost = spawnDetached([process.execPath, ...MARK.agentHost(state)], join(state.dir, 'agents.log'));
  writeState(state);
}

/** The agent host's death, in words with its log's last lines; undefined while it runs. */
function agentHostDied(state: LabState): string | undefined {
  const pid = state.pids.agentHost;
  if (pid !== undefined && isAlive(pid)) return undefined;
  return `the agent host exited: ${oneLine(logTail(join(state.dir, 'agents.log'), 3)) || 'no log'}`;
}

/**
 * Start the lab's agent host again (after it died or was killed): every
 * node's agent adopts what is in its kernel, and the links keep carrying
 * traffic meanwhile. Resolves when every agent is connected.
 */
export async function restartAgents(name: string, opts: { timeoutMs?: number; progress?: (line: string) => void; signal?: AbortSignal } = {}): Promise<void> {
  checkLabName(name);
  const state = readState(name);
  const old = state.pids.agentHost;
  if (old !== undefined) await stopProcess(old, MARK.agentHost(state));
  startAgentHost(state);
  const client = labClient(state);
  try {
    await waitForAgents(state, client, opts.timeoutMs ?? 60_000, opts.progress ?? (() => {}), opts.signal);
  } finally {
    client.close();
  }
}

/** Crash one node's agent in the lab's agent host (it is restarted by the host and adopts): what a test does. */
export function crashAgent(name: string, node: string): void {
  const state = readState(name);
  const pid = state.pids.agentHost;
  if (pid === undefined || !isOurs(pid, MARK.agentHost(state))) throw new UnavailableError(`lab "${name}": the agent host is not running`);
  writeFileSync(crashFile(state), `${node}\n`, { mode: 0o600 });
  process.kill(pid, 'SIGUSR2');
}

async function waitForAgents(state: LabState, client: VispClient, timeoutMs: number, progress: (l: string) => void, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const want = state.nodes.map((n) => n.name);
  let shown = -1;
  for (;;) {
    signal?.throwIfAborted();
    const died = agentHostDied(state);
    if (died) throw new UnavailableError(died);
    let nodes: NodeInfo__Output[] = [];
    try { nodes = (await withTimeout(client.operator.listNodes({}), 5000, 'ListNodes')).nodes; } catch { /* retried */ }
    const connected = new Set(nodes.filter((n) => n.connected).map((n) => n.name));
    const missing = want.filter((n) => !connected.has(n));
    if (missing.length === 0) { progress(`agents: ${want.length}/${want.length} connected`); return; }
    if (want.length - missing.length !== shown) {
      shown = want.length - missing.length;
      progress(`agents: ${shown}/${want.length} connected`);
    }
    if (Date.now() > deadline) {
      throw new UnavailableError(`agents not connected after ${Math.round(timeoutMs / 1000)} s: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''} (${join(state.dir, 'agents.log')}: ${oneLine(logTail(join(state.dir, 'agents.log'), 2)) || 'no log'})`);
    }
    await sleep(150, undefined, signal ? { signal } : undefined);
  }
}

/** Endpoints that are not ready, in words: "r1-r2 at r2 on n2: failed: …". */
export function notReady(m: Manifest__Output): string[] {
  return m.slivers.flatMap((s) => s.endpoints
    .filter((e) => e.operationalState !== 'OPERATIONAL_STATE_READY')
    .map((e) => `${s.link} at ${e.node} on ${e.physicalNode}: ${enumWord(e.operationalState, 'OPERATIONAL_STATE_')}${e.error ? `: ${e.error}` : ''}`));
}

async function waitForReady(state: LabState, client: VispClient, timeoutMs: number, progress: (l: string) => void, signal?: AbortSignal): Promise<Manifest__Output> {
  const start = Date.now();
  const failedSince = new Map<string, number>();
  let shown = '';
  for (;;) {
    signal?.throwIfAborted();
    const m = (await withTimeout(client.links.status({ slice: state.name }), 10_000, 'Status')).manifest;
    if (!m) throw new UnavailableError('Status returned no manifest');
    const eps = m.slivers.flatMap((s) => s.endpoints);
    const ready = eps.filter((e) => e.operationalState === 'OPERATIONAL_STATE_READY').length;
    const links = m.slivers.filter((s) => s.endpoints.length > 0 && s.endpoints.every((e) => e.operationalState === 'OPERATIONAL_STATE_READY')).length;
    const failed = m.slivers.flatMap((s) => s.endpoints.filter((e) => e.operationalState === 'OPERATIONAL_STATE_FAILED').map((e) => `${s.link}@${e.node}`));
    const line = `links: ${links}/${m.slivers.length} ready, endpoints: ${ready}/${eps.length} ready${failed.length ? `, ${failed.length} failed` : ''}`;
    if (line !== shown) { progress(`${line} (${((Date.now() - start) / 1000).toFixed(1)} s)`); shown = line; }
    if (eps.length > 0 && ready === eps.length) return m;

    // A failure that stays for 10 s is not going to heal by itself: say why now.
    const now = Date.now();
    for (const k of [...failedSince.keys()]) if (!failed.includes(k)) failedSince.delete(k);
    for (const k of failed) if (!failedSince.has(k)) failedSince.set(k, now);
    const stuck = [...failedSince.values()].some((t) => now - t > 10_000);
    if (stuck) throw new IncompatibleStateError(`slice ${state.name} failed: ${notReady(m).join('; ')}`, { diff: notReady(m) });
    const died = agentHostDied(state);
    if (died) throw new UnavailableError(died);
    if (now - start > timeoutMs) {
      throw new UnavailableError(`slice ${state.name} not ready after ${Math.round(timeoutMs / 1000)} s: ${notReady(m).join('; ')}`);
    }
    await sleep(200, undefined, signal ? { signal } : undefined);
  }
}

export async function labDown(name: string, opts: { progress?: (line: string) => void } = {}): Promise<LabDownReport> {
  const progress = opts.progress ?? (() => {});
  checkLabName(name);
  let state = tryReadState(name);
  if (!state) {
    if (!existsSync(labDir(name))) throw noSuchLab(name);
    // The directory without its state: an `up` that died very early. Remove what its names say it made.
    const guess = listNetns().filter((ns) => ns === hubNetns(name) || ns.startsWith(nodeNetns(name, '')));
    state = {
      version: 1, name, file: '', dir: labDir(name), phase: 'stopping', createdAt: '', controller: '', socket: '', store: '',
      entry: '', hub: hubNetns(name), nodes: [], namespaces: excludeOtherLabs(name, guess), experimentNetns: [], pids: { agents: {} },
    };
  } else {
    state.phase = 'stopping';
    writeState(state);
  }
  const report = await teardown(state, undefined, progress);
  if (report.problems.length) throw new UnavailableError(`lab "${name}": ${report.problems.join('; ')}`);
  return report;
}

/**
 * Undo a lab: delete the slice through the API (if the controller answers),
 * stop the agents and the controller, delete every namespace (experiment,
 * node, hub) and the directory. Never throws; says what it could not do.
 */
async function teardown(state: LabState, given: VispClient | undefined, progress: (l: string) => void): Promise<LabDownReport> {
  const report: LabDownReport = { name: state.name, deleted: false, stopped: [], namespaces: [], problems: [] };
  const controllerUp = state.pids.controller !== undefined && isOurs(state.pids.controller, MARK.controller(state));
  const experiment = new Set(state.experimentNetns.filter(Boolean));

  if (controllerUp && existsSync(state.socket)) {
    const client = given ?? labClient(state);
    try {
      // Every slice on the lab's controller goes, not only the lab's own: any
      // AM may have allocated through it, and its namespaces are on the lab's
      // nodes. The lab's AM deletes its slice; the others are shut down by
      // the lab's operator (an operator may not pose as their AM).
      const before = await withTimeout(client.operator.listTunnels({}), 5000, 'ListTunnels');
      for (const t of before.tunnels) if (t.netns) experiment.add(t.netns);
      const { slices } = await withTimeout(client.operator.listSlices({}), 5000, 'ListSlices');
      for (const sl of slices.filter((x) => x.slice !== state.name && x.allocationState !== 'ALLOCATION_STATE_UNALLOCATED')) {
        progress(`slice ${sl.slice} (not the lab's own): Shutdown`);
        await withTimeout(client.links.shutdown({ slice: sl.slice }), 15_000, 'Shutdown').catch((e: unknown) => progress(`slice ${sl.slice}: Shutdown: ${errorText(e)}`));
      }
      progress(`slice ${state.name}: Delete`);
      await withTimeout(client.links.delete({ slice: state.name }), 15_000, 'Delete');
      report.deleted = true;
      // Let the agents take their objects down, as they would on a testbed
      // (the kernel can be slow to delete links while it reclaims namespaces).
      await waitForNodesClean(state, progress);
    } catch (e) {
      if (rpcCode(e) === grpcStatus.NOT_FOUND) report.deleted = true;
      else progress(`the controller did not delete the slice (${errorText(e)}); removing its namespaces instead`);
    } finally {
      if (!given) client.close();
    }
  }

  // Daemons: agents first (they hold the node namespaces), then the controller.
  const agents = Object.entries(state.pids.agents);
  const host = state.pids.agentHost;
  if (host !== undefined) {
    progress(`stopping the agent host (${state.nodes.length} agents) and the controller`);
    if (await stopProcess(host, MARK.agentHost(state), 15_000)) report.stopped.push(`agent host (pid ${host})`);
    if (isOurs(host, MARK.agentHost(state))) report.problems.push(`agent host (pid ${host}) is still running`);
  }
  if (agents.length) progress(`stopping ${agents.length} agent${agents.length === 1 ? '' : 's'} and the controller`);
  await Promise.all(agents.map(async ([node, pid]) => {
    if (await stopProcess(pid, MARK.agent(state, node))) report.stopped.push(`agent ${node} (pid ${pid})`);
    if (isOurs(pid, MARK.agent(state, node))) report.problems.push(`agent ${node} (pid ${pid}) is still running`);
  }));
  // Agents leave their node's visp-engine and an egress node's gobgpd running
  // (the next agent would adopt them); the lab is going away, so they go too.
  // Then the emulated providers.
  for (const n of state.nodes) {
    const sock = join(state.dir, `engine-${n.name}.sock`);
    for (const pid of findProcesses(['--control', sock])) {
      if (await stopProcess(pid, ['--control', sock])) report.stopped.push(`visp-engine of ${n.name} (pid ${pid})`);
    }
  }
  for (const n of state.nodes) {
    const sock = join(state.dir, `bgp-${n.name}.sock`);
    const pid = findGobgpd(sock);
    if (pid === undefined) continue;
    if (await stopProcess(pid, ['--api-hosts', `unix://${sock}`])) report.stopped.push(`gobgpd of ${n.name} (pid ${pid})`);
  }
  await Promise.all((state.providers ?? []).map(async (p) => {
    const pid = state.pids.providers?.[p.name];
    if (pid === undefined) return;
    if (await stopProcess(pid, birdMark(p))) report.stopped.push(`provider ${p.name} (pid ${pid})`);
    if (isOurs(pid, birdMark(p))) report.problems.push(`provider ${p.name} (pid ${pid}) is still running`);
  }));
  if (state.pids.controller !== undefined) {
    const pid = state.pids.controller;
    if (await stopProcess(pid, MARK.controller(state))) report.stopped.push(`controller (pid ${pid})`);
    if (isOurs(pid, MARK.controller(state))) report.problems.push(`controller (pid ${pid}) is still running`);
  }

  // Namespaces: the experiment's (asked of the API, recorded, and any left by
  // the default naming), capability-probe scratch namespaces of our agents,
  // then the nodes and the hub.
  const all = listNetns();
  for (const ns of excludeOtherLabs(state.name, all.filter((n) => n.startsWith(`visp-${state.name}:`)))) experiment.add(ns);
  const probes = [...Object.values(state.pids.agents), ...(host !== undefined ? [host] : [])].flatMap((pid) => all.filter((n) => n.startsWith(`visp-probe-${pid}-`)));
  const order = [...experiment, ...probes, ...[...state.namespaces].reverse()];
  const present = new Set(all);
  const targets = uniq(order).filter((ns) => present.has(ns));
  if (targets.length) progress(`removing ${targets.length} namespaces`);
  report.problems.push(...await deleteNetns(targets));
  report.namespaces = targets.filter((ns) => !netnsExists(ns));

  try {
    rmSync(state.dir, { recursive: true, force: true });
  } catch (e) {
    report.problems.push(`cannot remove ${state.dir}: ${(e as Error).message}`);
  }
  return report;
}

async function waitForNodesClean(state: LabState, progress: (l: string) => void, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  let shown = -1;
  for (;;) {
    const left = (await Promise.all(state.nodes.map((n) => builtLinks(n.netns, state.name)))).reduce((a, l) => a + l.length, 0);
    if (left === 0) return;
    if (left !== shown && Date.now() - start > 1000) { progress(`agents removing the slice's objects: ${left} interfaces left on the nodes`); shown = left; }
    if (Date.now() - start > timeoutMs) { progress(`agents still have ${left} interfaces after ${timeoutMs / 1000} s; removing the namespaces anyway`); return; }
    await sleep(250);
  }
}

/** Drop namespaces that belong to another lab whose name extends ours ("a" vs "a-b"). */
function excludeOtherLabs(name: string, namespaces: string[]): string[] {
  const others = listLabs().filter((l) => l !== name).map((l) => ({ l, s: tryReadState(l) }));
  return namespaces.filter((ns) => !others.some(({ l, s }) =>
    ns === hubNetns(l) || ns.startsWith(nodeNetns(l, '')) || ns.startsWith(`visp-${l}:`) ||
    (s !== undefined && (s.namespaces.includes(ns) || s.experimentNetns.includes(ns)))));
}

export async function labStatus(name: string): Promise<LabStatusReport> {
  checkLabName(name);
  const state = tryReadState(name);
  if (!state) throw noSuchLab(name);
  const cpid = state.pids.controller;
  const report: LabStatusReport = {
    name, phase: state.phase, file: state.file, dir: state.dir,
    controller: { address: state.controller, ...(cpid !== undefined ? { pid: cpid } : {}), running: cpid !== undefined && isOurs(cpid, MARK.controller(state)), answering: false },
    nodes: state.nodes.map((n) => {
      const host = state.pids.agentHost;
      const pid = host ?? state.pids.agents[n.name];
      const running = pid !== undefined && isOurs(pid, host !== undefined ? MARK.agentHost(state) : MARK.agent(state, n.name));
      return { name: n.name, netns: n.netns, ipv4: n.ipv4, ipv6: n.ipv6, ...(pid !== undefined ? { pid } : {}), running, connected: false };
    }),
    slices: [],
    experimentNetns: state.experimentNetns,
  };
  if (report.controller.running) {
    const client = labClient(state);
    try {
      const nodes = (await withTimeout(client.operator.listNodes({}), 5000, 'ListNodes')).nodes;
      report.controller.answering = true;
      for (const n of report.nodes) n.connected = nodes.some((x) => x.name === n.name && x.connected);
      report.slices = (await withTimeout(client.operator.listSlices({}), 5000, 'ListSlices')).slices;
    } catch (e) {
      report.controller.error = errorText(e);
    } finally {
      client.close();
    }
  }
  return report;
}

function noSuchLab(name: string): NotFoundError {
  const up = listLabs();
  return new NotFoundError(`no lab named "${name}"${up.length ? ` (labs: ${up.join(', ')})` : ' (no lab is up)'}`);
}

/** The controller address of the one lab that is up, if exactly one is, and the lab's operator certificate. */
export function soleLabController(): { address: string; tls: TlsFiles } | undefined {
  const states = listLabs().map(tryReadState).filter((s): s is LabState => s !== undefined && s.phase === 'up');
  return states.length === 1 ? { address: states[0]!.controller, tls: labTls(states[0]!, 'operator') } : undefined;
}

/** The operator certificate of the lab whose controller is at `address`, if one is. */
export function labOperatorTls(address: string): TlsFiles | undefined {
  const s = listLabs().map(tryReadState).find((x) => x?.controller === address);
  return s ? labTls(s, 'operator') : undefined;
}

/** A client for the lab's controller: Links as the lab's AM, Operator (and Links.Shutdown) as its operator. */
function labClient(state: LabState): VispClient {
  const am = connect(state.controller, labTls(state, 'am'));
  const op = connect(state.controller, labTls(state, 'operator'));
  return {
    links: { ...am.links, shutdown: op.links.shutdown },
    operator: op.operator,
    close: () => { am.close(); op.close(); },
  };
}

const tlsFlags = (t: TlsFiles): string[] => ['--tls-ca', t.ca, '--tls-cert', t.cert, '--tls-key', t.key];

const uniq = (xs: string[]): string[] => [...new Set(xs.filter(Boolean))];
const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' | ').trim();
