// The operator's commands: slices, nodes, tunnels, describe, plan, events.
// Each asks the controller one thing and prints a table (or --json: the
// API's response object as it is).
import type { Manifest__Output } from '../api/gen/visp/v1/Manifest.js';
import type { OperationalState } from '../api/gen/visp/v1/OperationalState.js';
import type { Tunnel__Output } from '../api/gen/visp/v1/Tunnel.js';
import { readTopologyPlaced, toApiTopology, withTimeout } from '../lab/index.js';
import { command, parse, UsageError } from './args.js';
import { addrClass, allocState, count, encap, json, opState, table, time } from './tables.js';
import { withClient } from './target.js';
import { describeProperties } from '../shape/properties.js';
import { propertiesFromPb } from '../api/shape-convert.js';

const CALL_MS = 60_000;
const out = (s: string): void => { process.stdout.write(`${s}\n`); };
const common = {
  controller: { type: 'string', value: 'ADDR', help: 'the controller: host:port or unix:/path (default: $VISP_CONTROLLER, else the one lab that is up)' },
  json: { type: 'boolean', help: 'print the API\'s response as JSON (for scripts)' },
} as const;

const STATES = ['pending', 'configuring', 'ready', 'failed', 'stopped'];

export const SLICES = command({ name: 'slices', summary: 'slices, their states and link counts', flags: common });
export const NODES = command({ name: 'nodes', summary: 'nodes, connected or not, their underlay addresses, what each supports', flags: common });
export const TUNNELS = command({
  name: 'tunnels', summary: 'every tunnel: node, kind, key, addresses, state and packet counters',
  flags: {
    ...common,
    node: { type: 'string', value: 'N', help: 'only tunnels on node N' },
    slice: { type: 'string', value: 'S', help: 'only tunnels of slice S' },
    state: { type: 'string', value: 'STATE', help: `only tunnels in STATE: ${STATES.join(', ')}` },
  },
});
export const DESCRIBE = command({ name: 'describe', args: 'SLICE', positionals: 1, summary: 'a slice\'s manifest: every address, key, interface', flags: common });
export const PLAN = command({
  name: 'plan', args: 'FILE', positionals: 1, summary: 'what a topology file would change on each node (a dry run: nothing is reserved or built)',
  flags: { ...common, slice: { type: 'string', value: 'S', help: 'plan as slice S (default: the topology\'s name)' } },
});
export const EVENTS = command({
  name: 'events', summary: 'state changes as they happen (Ctrl-C to stop)',
  flags: { ...common, slice: { type: 'string', value: 'S', help: 'only events of slice S' }, node: { type: 'string', value: 'N', help: 'only events on node N' } },
});

export async function slicesCmd(args: string[]): Promise<void> {
  const { values } = parse(SLICES, args);
  const r = await withClient(values.controller, (c) => withTimeout(c.operator.listSlices({}), CALL_MS, 'ListSlices'));
  if (values.json) return out(json(r));
  if (!r.slices.length) return out('no slices');
  out(table(['slice', 'allocation', 'state', 'links', 'ready', 'failed', 'end time', 'expires'],
    r.slices.map((s) => [s.slice, allocState(s.allocationState), opState(s.operationalState), s.links, s.ready, s.failed, time(s.endTime), time(s.expires)])));
}

export async function nodesCmd(args: string[]): Promise<void> {
  const { values } = parse(NODES, args);
  const r = await withClient(values.controller, (c) => withTimeout(c.operator.listNodes({}), CALL_MS, 'ListNodes'));
  if (values.json) return out(json(r));
  if (!r.nodes.length) return out('no nodes');
  out(table(['node', 'connected', 'last seen', 'underlay', 'encapsulations', 'endpoints'],
    r.nodes.map((n) => [n.name, n.connected, time(n.lastSeen), n.underlayAddresses,
      n.capabilities.filter((k) => k.supported).map((k) => encap(k.encapsulation)), n.endpoints])));
}

export async function tunnelsCmd(args: string[]): Promise<void> {
  const { values } = parse(TUNNELS, args);
  let state: OperationalState | undefined;
  if (values.state !== undefined) {
    if (!STATES.includes(values.state)) throw new UsageError(`tunnels: flag --state: ${JSON.stringify(values.state)} is not one of ${STATES.join(', ')}`);
    state = `OPERATIONAL_STATE_${values.state.toUpperCase()}` as OperationalState;
  }
  const r = await withClient(values.controller, (c) => withTimeout(c.operator.listTunnels({
    ...(values.node ? { node: values.node } : {}), ...(values.slice ? { slice: values.slice } : {}), ...(state ? { state } : {}),
  }), CALL_MS, 'ListTunnels'));
  if (values.json) return out(json(r));
  out(r.tunnels.length ? tunnelTable(r.tunnels) : 'no tunnels');
}

/** The operator's tunnel table (also printed by `visp lab up`). */
export function tunnelTable(tunnels: readonly Tunnel__Output[]): string {
  const withErrors = tunnels.some((t) => t.error);
  const header = ['sliver', 'node', 'kind', 'dataplane', 'key', 'local', 'remotes', 'netns', 'ifname', 'addresses', 'state', 'rx pkts', 'tx pkts'];
  return table(withErrors ? [...header, 'error'] : header, tunnels.map((t) => {
    const row = [t.sliver, t.node, encap(t.encapsulation), t.dataplane, t.key || '', t.local, t.remotes, t.netns, t.ifname, t.addresses,
      opState(t.state), count(t.rxPackets), count(t.txPackets)];
    return withErrors ? [...row, t.error] : row;
  }));
}

export async function describeCmd(args: string[]): Promise<void> {
  const { values, positionals } = parse(DESCRIBE, args);
  const slice = positionals[0];
  if (!slice) throw new UsageError('describe: which slice? (visp describe SLICE; visp slices lists them)');
  const r = await withClient(values.controller, (c) => withTimeout(c.links.describe({ slice }), CALL_MS, 'Describe'));
  if (values.json) return out(json(r));
  if (!r.manifest) return out(`slice ${slice}: no manifest`);
  out(manifestText(r.manifest));
}

export function manifestText(m: Manifest__Output): string {
  const head = [
    `slice ${m.slice}: ${allocState(m.allocationState) || 'unknown'}, ${opState(m.operationalState) || 'unknown'}` +
      `${m.endTime ? `, ends ${time(m.endTime)}` : ''}${m.expires ? `, expires ${time(m.expires)} unless provisioned` : ''}${m.groupId ? `, link group ${m.groupId}` : ''}`,
    `address blocks: ${m.blocks.length ? m.blocks.map((b) => `${b.prefix} (${addrClass(b.addressClass)}, pool ${b.pool})`).join(', ') : '-'}`,
  ];
  const links = table(['link', 'kind', 'key', 'mtu', 'class', 'ipv4 subnet', 'ipv6 subnet', 'state', 'error'],
    m.slivers.map((s) => [s.link, encap(s.encapsulation), s.key || '', s.mtu || '', addrClass(s.addressClass), s.ipv4Subnet, s.ipv6Subnet, opState(s.operationalState), s.error]));
  const eps = table(['link', 'router', 'node', 'netns', 'ifname', 'addresses', 'underlay', 'bridge', 'tunnels', 'state', 'error'],
    m.slivers.flatMap((s) => s.endpoints.map((e) => [s.link, e.node, e.physicalNode, e.netns, e.ifname, e.addresses, e.underlayAddress, e.bridge, e.tunnels, opState(e.operationalState), e.error])));
  const parts = [...head, '', links, '', eps];
  if (m.scheduled.length) {
    parts.push('', table(['scheduled', 'at', 'change'], m.scheduled.map((c) => [c.id, time(c.at),
      c.action && c.action !== 'OPERATIONAL_ACTION_UNSPECIFIED'
        ? `${c.action.replace('OPERATIONAL_ACTION_', '').toLowerCase()} ${c.slivers.length ? c.slivers.join(', ') : '(every link)'}`
        : `link ${c.link}: ${describeProperties(propertiesFromPb(c.properties, 'properties'))}${c.members.map((x) => `; ${x.node} sends ${describeProperties(propertiesFromPb(x.properties, 'properties'))}`).join('')}`])));
  }
  return parts.join('\n');
}

export async function planCmd(args: string[]): Promise<void> {
  const { values, positionals } = parse(PLAN, args);
  const file = positionals[0];
  if (!file) throw new UsageError('plan: which topology file? (visp plan FILE.yaml)');
  const { value: topo, place } = readTopologyPlaced(file);
  const slice = values.slice ?? topo.name;
  const r = await withClient(values.controller, (c) => withTimeout(c.operator.plan({ slice, topology: toApiTopology(topo.topology) }), CALL_MS, 'Plan'))
    .catch((e: unknown) => { throw place(e); });
  if (values.json) return out(json(r));
  const parts = [`plan for slice ${slice} from ${file} (a dry run: nothing is reserved or built)`, ''];
  if (r.manifest) parts.push(manifestText(r.manifest), '');
  for (const n of r.nodes) {
    parts.push(`node ${n.node}:${n.error ? ` cannot plan: ${n.error}` : n.steps.length ? '' : ' no changes'}`);
    n.steps.forEach((s, i) => parts.push(`  ${String(i + 1).padStart(2)}. ${s}`));
  }
  out(parts.join('\n').trimEnd());
}

export async function eventsCmd(args: string[]): Promise<void> {
  const { values } = parse(EVENTS, args);
  await withClient(values.controller, async (c) => {
    const stream = c.operator.watchEvents({ ...(values.slice ? { slice: values.slice } : {}), ...(values.node ? { node: values.node } : {}) });
    const stop = (): void => stream.cancel();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      for await (const e of stream) {
        if (values.json) { out(JSON.stringify(e)); continue; }
        const what = [e.slice && `${e.slice}${e.link ? `/${e.link}` : ''}`, e.node && `@${e.node}`, opState(e.state)].filter(Boolean).join(' ');
        out(`${time(e.time)}  ${e.kind.padEnd(17)}  ${what}${e.message ? `: ${e.message}` : ''}`);
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });
}
