// The kernel's floor for a lab topology: the same objects visp builds for it
// (per point-to-point endpoint, no bridge of its own: a VXLAN device and a
// veth pair with its far end renamed and addressed in an experiment
// namespace, the two node-side devices joined by tc — a clsact qdisc on
// each, a u32 filter that lets the health probes' ethertype go up the
// device's own stack, and a u32 filter that redirects every other frame out
// of the other device — and the VXLAN device a port of the node's anchor, a
// bridge that stays down, one per node: src/bridge/anchor.ts), made by
// iproute2 alone — per node, all at once: `ip netns add` for each experiment
// namespace, one `ip -batch` and one `tc -batch` in the node namespace and
// one `ip -batch` in each experiment namespace — then removed with one group
// delete per node namespace, all at once (the qdiscs and filters go with
// their devices, the veths' far ends with their peers; the anchor stays, as
// visp's does when a slice goes, and is removed afterwards, untimed). No
// controller, no agents: what is left of visp's times above this is visp's
// own. Between the two, one link is pinged end to end (untimed), so the
// floor is known to build links that carry traffic.
import { execFile } from 'node:child_process';
import { tcJoinArgs } from './workload.js';
import type { LabNode } from './lab-env.js';

const GROUP = 77;
/** The floor's anchor bridge: not visp's name (src/bridge/anchor.ts ANCHOR), which the lab's agents hold in the same namespaces. */
const ANCHOR = 'kpmtu';

function run(cmd: 'ip' | 'tc', args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 }, (err, _out, stderr) =>
      (err ? reject(new Error(`${cmd} ${args.slice(0, 4).join(' ')}: ${stderr.trim() || err.message}`)) : resolve()));
    if (input !== undefined) c.stdin!.end(input);
  });
}
const ip = (args: string[], input?: string): Promise<void> => run('ip', args, input);

export interface FloorLink { id: string; a: number; b: number }

/**
 * The experiment addresses of link k's two ends: a /31 from 192.0.2.0/24
 * while the links fit (as visp's lab pool gives them), else a /127 from
 * 2001:db8:f::/64 (visp numbers bigger labs from IPv6 too).
 */
function addressesOf(k: number, v4: boolean): [string, string] {
  if (v4) return [`192.0.2.${2 * k}/31`, `192.0.2.${2 * k + 1}/31`];
  if (2 * k + 1 > 0xffff) throw new RangeError(`kernel floor: link ${k} is beyond 2001:db8:f::/112`);
  return [`2001:db8:f::${(2 * k).toString(16)}/127`, `2001:db8:f::${(2 * k + 1).toString(16)}/127`];
}

/** The node-side commands for one endpoint: `ip -batch` lines, then `tc -batch` lines. */
function endpointCommands(k: number, vni: number, local: string, remote: string, ifname: string, expNs: string): { ip: string[]; tc: string[] } {
  const vt = `kt${k}`, vh = `kh${k}`; // not visp's vt…/vh…: an agent of the lab may hold those names in the same namespace
  const join = (dev: string, other: string): string[] => tcJoinArgs(dev, other).map((a) => a.join(' '));
  return {
    ip: [
      `link add ${vt} group ${GROUP} mtu 1450 master ${ANCHOR} type vxlan id ${vni} local ${local} remote ${remote} dstport 4789 nolearning`,
      `link add ${vh} group ${GROUP} mtu 1450 type veth peer name ${ifname} netns ${expNs}`,
      `link set ${vt} up`, `link set ${vh} up`,
    ],
    tc: [...join(vt, vh), ...join(vh, vt)],
  };
}

/** Returns seconds for building and for the group deletes. `expNs(i)` names node i's experiment namespace (removed here). */
export async function kernelFloor(nodes: readonly LabNode[], links: readonly FloorLink[], expNs: (i: number) => string): Promise<{ provisionS: number; teardownS: number }> {
  const v4 = links.length <= 128;
  const perNode = nodes.map(() => [] as Array<{ k: number; vni: number; remote: string; addr: string; ifname: string }>);
  links.forEach((l, k) => {
    // VNI = link number + 1; each end named ethN in its node's experiment namespace, as visp names them.
    const [a, b] = addressesOf(k, v4);
    perNode[l.a]!.push({ k, vni: k + 1, remote: nodes[l.b]!.ipv4, addr: a, ifname: `eth${perNode[l.a]!.length + 1}` });
    perNode[l.b]!.push({ k, vni: k + 1, remote: nodes[l.a]!.ipv4, addr: b, ifname: `eth${perNode[l.b]!.length + 1}` });
  });
  const made: string[] = [];
  const t0 = performance.now();
  try {
    await Promise.all(nodes.map(async (node, i) => {
      const x = expNs(i);
      made.push(x);
      await ip(['netns', 'add', x]);
      await ip(['-n', x, 'link', 'set', 'lo', 'up']);
      const cmds = perNode[i]!.map((e) => endpointCommands(e.k, e.vni, node.ipv4, e.remote, e.ifname, x));
      const anchor = cmds.length ? [`link add ${ANCHOR} type bridge stp_state 0 mcast_snooping 0`] : [];
      await ip(['-n', node.netns, '-batch', '-'], `${[...anchor, ...cmds.flatMap((c) => c.ip)].join('\n')}\n`);
      if (cmds.length) await run('tc', ['-n', node.netns, '-batch', '-'], `${cmds.flatMap((c) => c.tc).join('\n')}\n`);
      const exp = perNode[i]!.flatMap((e) => [`addr add ${e.addr} dev ${e.ifname}${v4 ? '' : ' nodad'}`, `link set ${e.ifname} up`]);
      if (exp.length) await ip(['-n', x, '-batch', '-'], `${exp.join('\n')}\n`);
    }));
    const t1 = performance.now();
    if (links.length) await pingAcross(links[0]!, addressesOf(0, v4)[1], expNs);
    const t2 = performance.now();
    await Promise.all(nodes.map((node) => ip(['-n', node.netns, 'link', 'del', 'group', String(GROUP)])));
    const t3 = performance.now();
    return { provisionS: (t1 - t0) / 1000, teardownS: (t3 - t2) / 1000 };
  } finally {
    await Promise.all(nodes.map((node) => ip(['-n', node.netns, 'link', 'del', ANCHOR]).catch(() => undefined)));
    await Promise.all(made.map((x) => ip(['netns', 'del', x]).catch(() => undefined)));
  }
}

/** Link `l`'s first end pings its second (`to`, with its prefix length): the floor's objects carry traffic both ways. */
async function pingAcross(l: FloorLink, to: string, expNs: (i: number) => string): Promise<void> {
  const addr = to.split('/')[0]!;
  // Up to three echoes (the first waits for neighbour discovery through the redirects): one reply is enough.
  try {
    await run('ip', ['netns', 'exec', expNs(l.a), 'ping', ...(addr.includes(':') ? ['-6'] : []), '-c', '3', '-i', '0.5', '-W', '3', '-q', addr]);
  } catch (e) {
    throw new Error(`kernel floor: ${l.id} does not carry traffic (${expNs(l.a)} → ${addr}): ${(e as Error).message}`);
  }
}
