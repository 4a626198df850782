// `visp retire`: the last step on a node that leaves the testbed. An agent
// leaves its node's visp-engine (userspace tunnels) and gobgpd (BGP egress)
// running when it stops, on purpose: the next agent adopts them, so an agent
// restart or upgrade drops no packet and no BGP session. When the node is
// retired nothing will adopt them; this stops them for good.
//
// What it stops: the gobgpd and visp-engine processes in this network
// namespace whose sockets are in the run directory (gobgpd --api-hosts
// unix://<run dir>/bgp-<node>.sock, visp-engine --control <run dir>/engine-<name>.sock).
// gobgpd first (SIGTERM: it sends Cease to every provider, which withdraw the
// node's announcements), then the engine (its TAP/TUN devices go with it);
// SIGKILL after the grace time. It refuses while an agent runs in this
// namespace: that agent would start them again.
import { readdirSync, readlinkSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { IncompatibleStateError } from '../errors.js';
import { cmdline, isAlive } from '../proc.js';
import { command, duration, parse } from './args.js';

export interface NodeDaemon {
  what: 'gobgpd' | 'visp-engine';
  pid: number;
  /** Its API or control socket. */
  socket: string;
}

const netnsOf = (pid: number | 'self'): string | undefined => {
  try { return readlinkSync(`/proc/${pid}/ns/net`); } catch { return undefined; }
};

function processes(): Array<{ pid: number; argv: string[] }> {
  const here = netnsOf('self');
  const out: Array<{ pid: number; argv: string[] }> = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid || netnsOf(pid) !== here || !isAlive(pid)) continue;
    const argv = cmdline(pid);
    if (argv?.length) out.push({ pid, argv });
  }
  return out;
}

const after = (argv: string[], flag: string): string | undefined => {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
};

/** gobgpd and visp-engine processes of this network namespace with their sockets in `runDir`. */
export function findNodeDaemons(runDir: string): NodeDaemon[] {
  const dir = resolve(runDir);
  const inDir = (path: string | undefined, prefix: string): path is string =>
    path !== undefined && resolve(path).startsWith(`${dir}/${prefix}`) && path.endsWith('.sock');
  const found: NodeDaemon[] = [];
  for (const { pid, argv } of processes()) {
    if (/(^|\/)gobgpd$/.test(argv[0]!)) {
      const sock = after(argv, '--api-hosts')?.replace(/^unix:\/\//, '');
      if (inDir(sock, 'bgp-')) found.push({ what: 'gobgpd', pid, socket: sock });
    } else if (/(^|\/)visp-engine$/.test(argv[0]!)) {
      const sock = after(argv, '--control');
      if (inDir(sock, 'engine-')) found.push({ what: 'visp-engine', pid, socket: sock });
    }
  }
  // gobgpd first: providers withdraw the node's prefixes before its tunnels go.
  return found.sort((a, b) => (a.what === b.what ? a.pid - b.pid : a.what === 'gobgpd' ? -1 : 1));
}

/** Pids of `visp agent` processes in this network namespace. */
export function findAgents(): number[] {
  return processes().filter(({ argv }) => argv.some((a, i) => /(^|\/)(visp|main\.[cm]?[jt]s)$/.test(a) && argv[i + 1] === 'agent')).map((p) => p.pid);
}

async function stop(pid: number, graceMs: number): Promise<'stopped' | 'killed'> {
  try { process.kill(pid, 'SIGTERM'); } catch { return 'stopped'; }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(20);
  if (!isAlive(pid)) return 'stopped';
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
  for (let i = 0; i < 250 && isAlive(pid); i++) await sleep(20);
  return 'killed';
}

export const RETIRE = command({
  name: 'retire',
  summary: 'on a node leaving the testbed, after its agent was stopped for good: stop the gobgpd and visp-engine it left running',
  flags: {
    'run-dir': { type: 'string', value: 'DIR', help: 'where their sockets are (default /run/visp; the agent\'s run_dir)' },
    grace: { type: 'string', value: 'DURATION', help: 'how long each has after SIGTERM before SIGKILL (default 5s; the engine at most 2s)' },
    'dry-run': { type: 'boolean', help: 'say what would be stopped, stop nothing' },
  },
  notes: 'Refused while a visp agent runs in this network namespace (systemctl disable --now visp-agent first).\n' +
    'gobgpd goes first: SIGTERM makes it send Cease, and the providers withdraw the node\'s prefixes.',
});

export async function retireCmd(args: string[]): Promise<void> {
  const { values } = parse(RETIRE, args);
  const runDir = values['run-dir'] ?? '/run/visp';
  const graceMs = values.grace !== undefined ? duration('grace', values.grace) : 5000;
  const say = (s: string): void => { process.stdout.write(`${s}\n`); };
  const agents = findAgents();
  if (agents.length && !values['dry-run']) {
    throw new IncompatibleStateError(`a visp agent is running here (pid ${agents.join(', ')}): stop it first (systemctl disable --now visp-agent), or it starts what this stops again`);
  }
  if (agents.length) say(`a visp agent is running here (pid ${agents.join(', ')}): retire refuses until it is stopped`);
  const daemons = findNodeDaemons(runDir);
  if (!daemons.length) {
    say(`nothing to stop: no gobgpd or visp-engine with a socket in ${runDir} in this network namespace`);
    return;
  }
  for (const d of daemons) {
    if (values['dry-run']) {
      say(`would stop ${d.what} (pid ${d.pid}, ${d.socket})`);
      continue;
    }
    const how = await stop(d.pid, d.what === 'gobgpd' ? graceMs : Math.min(graceMs, 2000));
    rmSync(d.socket, { force: true });
    say(`${how} ${d.what} (pid ${d.pid}, ${d.socket})${d.what === 'gobgpd' ? ': its BGP sessions closed, providers withdraw this node\'s prefixes' : ': its TAP/TUN devices are gone'}`);
  }
}
