// visp lab up FILE | down [NAME] | status [NAME]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentHost } from '../lab/agent-host.js';
import { crashFile, labDown, labStatus, labUp, listLabs, readState, restartAgents, tryReadState } from '../lab/index.js';
import { labTls, type LabState } from '../lab/state.js';
import { command, duration, parse, UsageError, type GroupSpec } from './args.js';
import { tunnelTable } from './operator.js';
import { allocState, json, opState, table } from './tables.js';

const out = (s: string): void => { process.stdout.write(`${s}\n`); };

const jsonFlag = { json: { type: 'boolean', help: 'print the result as JSON (for scripts)' } } as const;
export const LAB_UP = command({
  name: 'lab up', args: 'FILE', positionals: 1,
  summary: 'emulated underlay (one namespace per node), a controller and every node\'s agent (one agent host process), then the slice in FILE',
  flags: {
    name: { type: 'string', value: 'N', help: 'the lab\'s name (default: the topology\'s name)' },
    timeout: { type: 'string', value: 'DURATION', help: 'how long to wait for the slice to be ready (default 60s plus 1s per link)' },
    'start-timeout': { type: 'string', value: 'DURATION', help: 'how long to wait for the controller and agents to start (default 30s; egress speakers 60s)' },
    duration: { type: 'string', value: 'DURATION', help: 'the slice\'s lifetime (default 24h)' },
    ...jsonFlag,
  },
  notes: 'DURATION: 90s, 15m, 8h, 2d (a bare number is seconds). Needs root.',
});
export const LAB_DOWN = command({ name: 'lab down', args: '[NAME]', positionals: 1, summary: 'delete the slice, stop everything, remove every namespace (NAME: default the one lab that is up)', flags: jsonFlag });
export const LAB_STATUS = command({ name: 'lab status', args: '[NAME]', positionals: 1, summary: 'processes, nodes, slices (without NAME: every lab)', flags: jsonFlag });
export const LAB_AGENTS = command({
  name: 'lab agents', args: 'NAME', positionals: 1,
  summary: 'the lab\'s agent host, every node\'s agent in this one process (lab up starts it detached; visp lab restart-agents starts a new one)',
  flags: { dir: { type: 'string', value: 'DIR', help: 'the lab\'s directory (default: the lab root\'s lab-NAME)' } },
  notes: 'SIGUSR2 crashes the agents of the nodes listed in the lab\'s agent-host.crash file (tests); each is restarted and adopts.',
});
export const LAB_RESTART_AGENTS = command({
  name: 'lab restart-agents', args: '[NAME]', positionals: 1,
  summary: 'start the lab\'s agent host again (stopping it first if it runs): every agent adopts what is in its kernel, the links carry traffic throughout',
  flags: jsonFlag,
});
export const LAB: GroupSpec = { name: 'lab', summary: 'lab mode: a whole testbed on this machine, in network namespaces (needs root)', subcommands: [LAB_UP, LAB_DOWN, LAB_STATUS, LAB_AGENTS, LAB_RESTART_AGENTS] };
const note = (s: string): void => { process.stderr.write(`  ${s}\n`); };

export async function labCmd(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'up': return up(rest);
    case 'down': return down(rest);
    case 'status': return status(rest);
    case 'agents': return agents(rest);
    case 'restart-agents': return restart(rest);
    case undefined: throw new UsageError('lab: up FILE | down [NAME] | status [NAME] | agents NAME | restart-agents [NAME]');
    default: throw new UsageError(`lab: unknown subcommand ${JSON.stringify(sub)} (up FILE | down [NAME] | status [NAME] | agents NAME | restart-agents [NAME])`);
  }
}

async function up(args: string[]): Promise<void> {
  const { values, positionals } = parse(LAB_UP, args);
  const file = positionals[0];
  if (!file) throw new UsageError('lab up: which topology file? (e.g. visp lab up examples/triangle.yaml)');
  const ac = new AbortController();
  let interrupts = 0;
  const onSignal = (): void => {
    if (++interrupts > 1) process.exit(130);
    note('interrupted: cleaning up (again to quit at once)');
    ac.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await labUp(file, {
      ...(values.name !== undefined ? { name: values.name } : {}),
      ...(values.timeout !== undefined ? { timeoutMs: duration('timeout', values.timeout) } : {}),
      ...(values['start-timeout'] !== undefined ? { startTimeoutMs: duration('start-timeout', values['start-timeout']) } : {}),
      ...(values.duration !== undefined ? { durationMs: duration('duration', values.duration) } : {}),
      progress: note,
      signal: ac.signal,
    });
    if (values.json) return out(json({ lab: r.state, manifest: r.manifest, tunnels: r.tunnels }));
    out(`lab ${r.state.name} is up: ${r.manifest.slivers.length} links ready; controller ${r.state.controller}`);
    out('');
    out(tunnelTable(r.tunnels));
    out('');
    out(`experiment namespaces: ${r.state.experimentNetns.join(', ')}   (try: ip netns exec ${r.state.experimentNetns[0]} ip addr)`);
    out(`take it down with: visp lab down ${r.state.name}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** NAME, or the only lab there is. */
function which(cmd: string, name: string | undefined): string {
  if (name) return name;
  const labs = listLabs();
  if (labs.length === 1) return labs[0]!;
  throw new UsageError(labs.length ? `${cmd}: which lab? ${labs.join(', ')}` : `${cmd}: no lab is up`);
}

async function down(args: string[]): Promise<void> {
  const { values, positionals } = parse(LAB_DOWN, args);
  const name = which('lab down', positionals[0]);
  const r = await labDown(name, { progress: note });
  if (values.json) return out(json(r));
  out(`lab ${name} is down: ${r.deleted ? 'slice deleted, ' : ''}${r.stopped.length} processes stopped, ${r.namespaces.length} namespaces removed`);
}

async function status(args: string[]): Promise<void> {
  const { values, positionals } = parse(LAB_STATUS, args);
  if (!positionals[0] && listLabs().length !== 1) {
    const labs = listLabs().map((l) => ({ l, s: tryReadState(l) }));
    if (values.json) return out(json(labs.map(({ l, s }) => ({ name: l, phase: s?.phase ?? 'unknown', file: s?.file ?? '', controller: s?.controller ?? '' }))));
    if (!labs.length) return out('no lab is up');
    return out(table(['lab', 'phase', 'nodes', 'file', 'controller'], labs.map(({ l, s }) => [l, s?.phase ?? 'unknown', s?.nodes.length, s?.file, s?.controller])));
  }
  const r = await labStatus(which('lab status', positionals[0]));
  if (values.json) return out(json(r));
  const c = r.controller;
  out(`lab ${r.name}: ${r.phase}, from ${r.file}`);
  out(`controller ${c.address}: ${c.running ? `running (pid ${c.pid})` : 'not running'}${c.running ? (c.answering ? ', answering' : `, not answering${c.error ? ` (${c.error})` : ''}`) : ''}`);
  out('');
  out(table(['node', 'namespace', 'underlay', 'agent', 'connected'],
    r.nodes.map((n) => [n.name, n.netns, [n.ipv4, n.ipv6], n.running ? `running (pid ${n.pid})` : 'not running', n.connected])));
  if (r.slices.length) {
    out('');
    out(table(['slice', 'allocation', 'state', 'links', 'ready', 'failed'],
      r.slices.map((s) => [s.slice, allocState(s.allocationState), opState(s.operationalState), s.links, s.ready, s.failed])));
  }
  if (r.experimentNetns.length) out(`\nexperiment namespaces: ${r.experimentNetns.join(', ')}`);
}

async function restart(args: string[]): Promise<void> {
  const { values, positionals } = parse(LAB_RESTART_AGENTS, args);
  const name = which('lab restart-agents', positionals[0]);
  const t = Date.now();
  await restartAgents(name, { progress: note });
  const st = await labStatus(name);
  if (values.json) return out(json({ name, agentHost: st.nodes[0]?.pid, connected: st.nodes.filter((n) => n.connected).length, ms: Date.now() - t }));
  out(`lab ${name}: agent host restarted (pid ${st.nodes[0]?.pid}), ${st.nodes.filter((n) => n.connected).length}/${st.nodes.length} agents connected in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

/** The agent host of a lab (started detached by `lab up`): runs until SIGTERM or SIGINT. */
async function agents(args: string[]): Promise<void> {
  const { values, positionals } = parse(LAB_AGENTS, args);
  const name = positionals[0];
  if (!name) throw new UsageError('lab agents: which lab?');
  const state = values.dir !== undefined ? JSON.parse(readFileSync(join(values.dir, 'lab.json'), 'utf8')) as LabState : readState(name);
  const log = (node: string | undefined, line: string): void => { process.stderr.write(`${new Date().toISOString()} ${node ? `${node}: ` : ''}${line}\n`); };
  const host = new AgentHost({
    controller: state.controller, runDir: state.dir, log,
    nodes: state.nodes.map((n) => ({ name: n.name, netns: n.netns, underlay: [n.ipv4, n.ipv6], tls: labTls(state, `node-${n.name}`) })),
  });
  process.on('SIGUSR2', () => {
    let nodes: string[] = [];
    try { nodes = readFileSync(crashFile(state), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean); } catch { /* nothing asked */ }
    for (const n of nodes) host.crash(n, 'crashed (SIGUSR2)');
  });
  log(undefined, `agent host of lab ${name}: ${host.nodes.length} agents, dialing ${state.controller}`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (sig: NodeJS.Signals): void => {
      if (stopping) process.exit(1);
      stopping = true;
      log(undefined, `${sig}, stopping ${host.nodes.length} agents`);
      host.close().then(() => resolve(), () => resolve());
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    void host.start().then(() => log(undefined, 'every agent started'));
  });
}
