// The provisioning workload: N VXLAN link endpoints on one node, as visp
// specs and as the equivalent iproute2 commands (same objects, same
// attributes, same end state), so every contender does the same work.
import type { EndpointSpec } from '../../src/endpoint/spec.js';
import { resolveEndpoint } from '../../src/endpoint/spec.js';
import { ANCHOR, ANCHOR_ALIAS } from '../../src/bridge/anchor.js';
import { PROBE_ETHERTYPE } from '../../src/netlink/packet.js';
import { aliasOf } from '../../src/ownership.js';

export const GROUP = 1001;
export const SLICE = 'bench';
export const LOCAL = '198.18.0.1';
const V4_BLOCKS = ['192.0.2', '198.51.100', '203.0.113'];

/** 198.18.1.0 + i: distinct remotes inside 198.18.0.0/15 (this node is 198.18.0.1). */
function remoteOf(i: number): string {
  const n = 256 + i;
  if (n >= 2 * 65536) throw new RangeError(`endpoint ${i}: out of 198.18.0.0/15`);
  return `198.18.${n >> 8}.${n & 255}`;
}

/**
 * Experiment addresses: an IPv6 /127 from 2001:db8:b::/64 for every endpoint,
 * and an IPv4 /31 for the first 384 (the three documentation /24s hold 128 each).
 */
function addressesOf(i: number): string[] {
  const out = [`2001:db8:b::${(2 * i + 1).toString(16)}/127`];
  if (i < 128 * V4_BLOCKS.length) out.push(`${V4_BLOCKS[i >> 7]}.${(i & 127) * 2}/31`);
  return out;
}

export function workload(n: number, expNamespaces: readonly string[]): EndpointSpec[] {
  return Array.from({ length: n }, (_, i) => ({
    slice: SLICE, link: `l${i}`, group: GROUP, kind: 'vxlan' as const, key: 10000 + i,
    local: LOCAL, remotes: [remoteOf(i)],
    netns: expNamespaces[i % expNamespaces.length]!, ifname: `eth${i}`, addresses: addressesOf(i),
  }));
}

/** One iproute2 command (arguments after `ip -n NS`, or `tc -n NS` for the joins). */
export interface IpCommand { netns: string; args: string[]; tool?: 'tc' }

/**
 * The iproute2 commands that build the same end state as visp's reconcile
 * of `specs` (point-to-point endpoints): per endpoint a VXLAN device and a
 * veth pair with its far end created in the experiment namespace, no bridge
 * of its own (the VXLAN device is a port of the node's anchor, a bridge that
 * stays down, made once: src/bridge/anchor.ts), aliases and group marks
 * (the anchor has no group: a slice's teardown leaves it), node-side
 * devices without IPv6 link-local (addrgenmode none, set before they go
 * up), the far end up, its addresses;
 * and the join of the two node-side devices (src/bridge/redirect.ts): a
 * clsact qdisc on each, a u32 filter at its ingress that ends
 * classification for the health probes' ethertype (they go up that device's
 * stack) and one that redirects every other frame out of the other device.
 * Node-side `ip` commands first, then the node's `tc` (the devices exist by
 * then), then the experiment side (its veth ends exist only after the node
 * side ran), grouped by namespace.
 */
export function ipProvisionCommands(node: string, specs: readonly EndpointSpec[]): IpCommand[] {
  const nodeCmds: IpCommand[] = [];
  const tcCmds: IpCommand[] = [];
  const upCmds: IpCommand[] = [];
  const expCmds = new Map<string, IpCommand[]>();
  const exp = (netns: string, args: string[]): void => {
    const l = expCmds.get(netns) ?? [];
    l.push({ netns, args });
    expCmds.set(netns, l);
  };
  if (specs.length) {
    nodeCmds.push({ netns: node, args: ['link', 'add', 'name', ANCHOR, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0'] });
    nodeCmds.push({ netns: node, args: ['link', 'set', 'dev', ANCHOR, 'alias', quoted(ANCHOR_ALIAS), 'addrgenmode', 'none'] });
  }
  for (const s of specs) {
    const r = resolveEndpoint(s);
    const t = r.tunnels[0]!;
    const alias = aliasOf(r.mark);
    const mtu = String(r.mtu), group = String(r.mark.group);
    const cmd = (args: string[]): void => { nodeCmds.push({ netns: node, args }); };
    // As visp: each node-side device created down and marked with no IPv6 link-local; up once joined (below).
    const mark = (name: string): void => {
      cmd(['link', 'set', 'dev', name, 'alias', alias, 'addrgenmode', 'none']);
      upCmds.push({ netns: node, args: ['link', 'set', 'dev', name, 'up'] });
    };
    cmd(['link', 'add', 'name', t.name, 'mtu', mtu, 'group', group, 'master', ANCHOR, 'type', 'vxlan', 'id', String(t.key),
      'local', t.local, 'remote', t.remote!, 'dstport', '4789', 'ttl', '64', 'nolearning']);
    mark(t.name);
    cmd(['link', 'add', 'name', r.vethHost, 'mtu', mtu, 'group', group, 'type', 'veth',
      'peer', 'name', s.ifname, 'mtu', mtu, 'group', group, 'netns', s.netns]);
    mark(r.vethHost);
    for (const args of [...tcJoinArgs(t.name, r.vethHost), ...tcJoinArgs(r.vethHost, t.name)]) tcCmds.push({ netns: node, args, tool: 'tc' });
    exp(s.netns, ['link', 'set', 'dev', s.ifname, 'alias', alias, 'up']);
    for (const a of r.addresses) exp(s.netns, ['addr', 'add', a, 'dev', s.ifname, ...(a.includes(':') ? ['nodad'] : [])]);
  }
  return [...nodeCmds, ...tcCmds, ...upCmds, ...[...expCmds.values()].flat()];
}

/**
 * The `tc` commands (arguments) that join `dev` to `other` one way, as
 * src/bridge/redirect.ts does: a clsact qdisc; a filter that ends
 * classification for the health probes' ethertype (they go up dev's stack:
 * the tunnel's to the node's probe socket, the veth's nowhere); one that
 * redirects every other frame out of `other`.
 */
export function tcJoinArgs(dev: string, other: string): string[][] {
  return [
    ['qdisc', 'add', 'dev', dev, 'clsact'],
    ['filter', 'add', 'dev', dev, 'ingress', 'prio', '1', 'protocol', `0x${PROBE_ETHERTYPE.toString(16)}`, 'u32', 'match', 'u32', '0', '0', 'classid', '1:1'],
    ['filter', 'add', 'dev', dev, 'ingress', 'prio', '2', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', other],
  ];
}

/** An argument with spaces, for `ip -batch` and sh alike (it must hold no double quote, dollar, backquote or backslash). */
function quoted(arg: string): string {
  if (/["$`\\]/.test(arg)) throw new Error(`cannot quote ${JSON.stringify(arg)}`);
  return `"${arg}"`;
}

/**
 * Deleting link by link, as a per-link script does: the tunnel and the
 * veth's host end (deleting a veth end removes its peer; a device's qdiscs
 * and filters go with it); then the node's anchor, emptied, as visp deletes
 * it after a slice's teardown.
 */
export function ipDeleteCommands(node: string, specs: readonly EndpointSpec[]): IpCommand[] {
  return [...specs.flatMap((s) => {
    const r = resolveEndpoint(s);
    return [r.tunnels[0]!.name, r.vethHost].map((name) => ({ netns: node, args: ['link', 'del', 'dev', name] }));
  }), { netns: node, args: ['link', 'del', 'dev', ANCHOR] }];
}

/** Group commands by tool and namespace, keeping order: one `ip|tc -n NS -batch` per run of commands. */
export function batches(cmds: readonly IpCommand[]): Array<{ tool: 'ip' | 'tc'; netns: string; lines: string }> {
  const out: Array<{ tool: 'ip' | 'tc'; netns: string; lines: string[] }> = [];
  for (const c of cmds) {
    const last = out[out.length - 1];
    const tool = c.tool ?? 'ip';
    if (last && last.netns === c.netns && last.tool === tool) last.lines.push(c.args.join(' '));
    else out.push({ tool, netns: c.netns, lines: [c.args.join(' ')] });
  }
  return out.map((b) => ({ tool: b.tool, netns: b.netns, lines: `${b.lines.join('\n')}\n` }));
}

/** A POSIX shell script running one `ip` (or `tc`) process per command. */
export function perCommandScript(cmds: readonly IpCommand[]): string {
  return `set -e\n${cmds.map((c) => `${c.tool ?? 'ip'} -n ${c.netns} ${c.args.join(' ')}`).join('\n')}\n`;
}
