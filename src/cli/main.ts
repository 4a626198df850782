#!/usr/bin/env node
// visp: the command line. One line per error on stderr ("visp: …"), exit
// status 1 (2 for a usage mistake). Commands load their modules on demand, so
// `visp slices` does not load the kernel layer or the store.
import { errorText } from '../lab/rpc.js';
import { UsageError } from './args.js';

const HELP = `visp — virtual ISPs for network testbeds

usage: visp COMMAND [flags]

lab mode (this machine; needs root):
  lab up FILE [--name N] [--timeout 60s] [--start-timeout 30s] [--duration 24h] [--json]
                              emulated underlay + controller + one agent per node, then the slice
  lab down [NAME]             delete the slice, stop everything, remove every namespace
  lab status [NAME] [--json]  processes, nodes, slices (without NAME: every lab)

daemons:
  controller [--listen ADDR] [--store FILE] [--pools FILE.yaml]
  agent --controller ADDR --node NAME [--underlay ADDR,…] [--reconcile-interval MS] [--run-dir DIR]
                              (DIR: where an egress node's gobgpd socket and log go; default /run/visp)

operator (--controller ADDR, else $VISP_CONTROLLER, else the one lab that is up; --json for scripts):
  slices                      slices, their states and link counts
  nodes                       nodes, connected or not, what each supports
  tunnels [--node N] [--slice S] [--state ready|failed|…]
  describe SLICE              the manifest: every address, key, interface
  plan FILE [--slice S]       what a topology would change on each node (a dry run)
  events [--slice S] [--node N]   state changes as they happen (Ctrl-C to stop)
  bgp [--node N]              egress nodes: BGP sessions (state, uptime, prefix counts), what each slice announces and receives
  egress set NODE --asn N --router-id A [--provider ADDR,ASN[,password=P][,families=ipv4+ipv6][,max-prefixes=N]]…
                              make NODE an egress node (replaces its whole configuration)
  egress remove NODE          stop egress on NODE (refused while a slice egresses there)

ADDR is host:port or unix:/path (a bare /path is a unix socket).
Topology files: see examples/*.yaml.`;

type Command = (args: string[]) => Promise<void>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  lab: async () => (await import('./lab.js')).labCmd,
  controller: async () => (await import('./daemons.js')).controllerCmd,
  agent: async () => (await import('./daemons.js')).agentCmd,
  slices: async () => (await import('./operator.js')).slicesCmd,
  nodes: async () => (await import('./operator.js')).nodesCmd,
  tunnels: async () => (await import('./operator.js')).tunnelsCmd,
  describe: async () => (await import('./operator.js')).describeCmd,
  plan: async () => (await import('./operator.js')).planCmd,
  events: async () => (await import('./operator.js')).eventsCmd,
  bgp: async () => (await import('./bgp.js')).bgpCmd,
  egress: async () => (await import('./bgp.js')).egressCmd,
};

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const load = COMMANDS[cmd];
  if (!load) throw new UsageError(`unknown command ${JSON.stringify(cmd)} (commands: ${Object.keys(COMMANDS).join(', ')}; visp help)`);
  await (await load())(rest);
}

main(process.argv.slice(2)).then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    process.stderr.write(`visp: ${errorText(e).replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
