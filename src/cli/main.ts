#!/usr/bin/env node
// visp: the command line. One line per error on stderr ("visp: …"), exit
// status 1 (2 for a usage mistake). Commands load their modules on demand, so
// `visp slices` does not load the kernel layer or the store. Each command's
// usage and flags live with the command (`visp COMMAND --help`); this file
// has the overview only.
import { errorText } from '../lab/rpc.js';
import { groupUsageText, HelpRequest, UsageError, type GroupSpec } from './args.js';

const HELP = `visp — virtual ISPs for network testbeds

usage: visp COMMAND [flags]            (visp COMMAND --help: its usage and every flag)

lab mode (this machine; needs root):
  lab up|down|status|restart-agents …  emulated underlay, controller and agents (one host process) in namespaces, then the slice

daemons (config files: docs/config.md):
  controller [--config FILE] …         the controller: the API, the store, the address pools
  agent [--config FILE] …              one node's agent: builds what the controller asks of this node
  backup --out FILE [--store FILE]     a consistent copy of the controller's store while it runs (docs/deploy.md)
  store copy --from S --to D …         a store into a new one: SQLite into etcd for several controllers, or back
  retire [--run-dir DIR]               on a retired node: stop the engine and gobgpd its agent left running

operator (--controller ADDR, else $VISP_CONTROLLER, else the one lab that is up; --json for scripts):
  slices                               slices, their states and link counts
  nodes                                nodes, connected or not, what each supports
  tunnels [--node N] [--slice S] …     every tunnel, its state and counters
  describe SLICE                       the manifest: every address, key, interface
  plan FILE [--slice S]                what a topology would change on each node (a dry run)
  events [--slice S] [--node N]        state changes as they happen (Ctrl-C to stop)
  graph SLICE [--out FILE] …           the slice as a picture: SVG, DOT or Mermaid
  bgp [--node N]                       egress nodes: BGP sessions, what each slice announces and receives
  egress set|remove NODE …             make a node an egress node, or stop egress there
  link set|down|up|cancel SLICE …      a link changed at run time: properties, down, up; now or --at a time
  rspec manifest SLICE                 the manifest as a GENI v3 manifest RSpec

GENI RSpec:
  rspec import FILE [--out F]          a GENI v3 request RSpec → a visp topology file

certificates:
  certs ca|issue|request|sign|show …   testbed CA and certificates (visp certs --help)

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
  graph: async () => (await import('./graph.js')).graphCmd,
  bgp: async () => (await import('./bgp.js')).bgpCmd,
  egress: async () => (await import('./bgp.js')).egressCmd,
  link: async () => (await import('./link.js')).linkCmd,
  rspec: async () => (await import('./rspec.js')).rspecCmd,
  certs: async () => (await import('./certs.js')).certsCmd,
  backup: async () => (await import('./backup.js')).backupCmd,
  retire: async () => (await import('./retire.js')).retireCmd,
  store: async () => (await import('./store.js')).storeCmd,
};

/** Commands with subcommands whose `--help` (before any subcommand) lists the subcommands. */
const GROUPS: Record<string, () => Promise<GroupSpec>> = {
  lab: async () => (await import('./lab.js')).LAB,
  egress: async () => (await import('./bgp.js')).EGRESS,
  link: async () => (await import('./link.js')).LINK,
  rspec: async () => (await import('./rspec.js')).RSPEC,
  store: async () => (await import('./store.js')).STORE,
};

const isHelp = (a: string | undefined): boolean => a === '--help' || a === '-h';

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) {
    process.stderr.write(`${HELP}\n`);
    process.exitCode = 2;
    return;
  }
  if (cmd === 'help' && rest.length) return main([...rest, '--help']);
  if (cmd === 'help' || isHelp(cmd)) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (!Object.hasOwn(COMMANDS, cmd)) throw new UsageError(`unknown command ${JSON.stringify(cmd)} (commands: ${Object.keys(COMMANDS).join(', ')}; visp help)`);
  const group = Object.hasOwn(GROUPS, cmd) ? GROUPS[cmd] : undefined;
  if (group && isHelp(rest[0])) {
    process.stdout.write(`${groupUsageText(await group())}\n`);
    return;
  }
  await (await COMMANDS[cmd]!())(rest);
}

main(process.argv.slice(2)).then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    if (e instanceof HelpRequest) {
      process.stdout.write(`${e.text}\n`);
      process.exit(0);
    }
    process.stderr.write(`visp: ${errorText(e).replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
