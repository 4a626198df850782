// The lab's emulated underlay: one hub namespace holding a bridge, and one
// namespace per physical node joined to the hub by a veth pair ("ul0" on the
// node's side). Nothing is created in the root namespace: each veth pair is
// made inside the hub with its peer sent straight into the node's namespace.
// Addresses come from the benchmarking range only: 198.18.0.0/15 and
// 2001:db8:ffff::/64 (documentation range), node i getting host number i+1.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { UnavailableError } from '../errors.js';
import { linkList } from '../netlink/link.js';
import { netnsCreate, netnsDel, netnsExists } from '../netlink/netns.js';
import { NetlinkSocket } from '../netlink/socket.js';
import { parseAlias } from '../ownership.js';

export const UNDERLAY_V4 = { base: [198, 18, 0, 0] as const, prefixLength: 15 };
export const UNDERLAY_V6 = { base: '2001:db8:ffff::', prefixLength: 64 };
/** Hosts 198.18.0.1 … 198.19.255.254. */
export const MAX_NODES = 2 ** 17 - 2;

export interface UnderlayNode {
  /** The physical node's name (its agent's name). */
  name: string;
  netns: string;
  /** Underlay addresses on ul0, without prefix length. */
  ipv4: string;
  ipv6: string;
  /** The veth end on the hub's bridge. */
  port: string;
}

export interface UnderlayPlan {
  hub: string;
  bridge: string;
  nodes: UnderlayNode[];
}

/** Namespace names of a lab: "vl-<lab>" for the hub, "vl-<lab>-<node>" for nodes. */
export const hubNetns = (lab: string): string => `vl-${lab}`;
export const nodeNetns = (lab: string, node: string): string => `vl-${lab}-${node}`;

export function underlayPlan(lab: string, nodes: readonly string[]): UnderlayPlan {
  if (nodes.length > MAX_NODES) throw new UnavailableError(`lab underlay: ${nodes.length} nodes, at most ${MAX_NODES} fit in 198.18.0.0/15`);
  return {
    hub: hubNetns(lab),
    bridge: 'br0',
    nodes: nodes.map((name, i) => ({ name, netns: nodeNetns(lab, name), ipv4: v4Host(i + 1), ipv6: `${UNDERLAY_V6.base}${(i + 1).toString(16)}`, port: `p${i}` })),
  };
}

function v4Host(n: number): string {
  const [a, b] = UNDERLAY_V4.base;
  return `${a}.${b + (n >>> 16)}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Every namespace the underlay uses, hub last (so deleting in this order leaves no dangling peers). */
export const underlayNamespaces = (p: UnderlayPlan): string[] => [...p.nodes.map((n) => n.netns), p.hub];

export { netnsExists };

export function listNetns(): string[] {
  try { return readdirSync('/run/netns'); } catch { return []; }
}

function ip(args: string[], input?: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', args, { encoding: 'utf8', ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (err) reject(new UnavailableError(`ip ${args.join(' ')}: ${(stderr || err.message).trim().split('\n').slice(-3).join('; ')}`, { cause: err }));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/**
 * Build the underlay. `created` is called with each namespace right before it
 * is made, so a caller can record it and remove it even if this fails midway.
 */
export async function createUnderlay(p: UnderlayPlan, created: (netns: string) => void, signal?: AbortSignal): Promise<void> {
  // Made in-process (netnsCreate, as `ip netns add`), a few at a time, each with its lo up.
  // Exclusive: a name that exists already is another lab's or a leftover, never adopted.
  // On a failure the others stop, and all have stopped before this throws (the caller then
  // deletes what `created` was told: nothing may be made after that).
  const names = [p.hub, ...p.nodes.map((n) => n.netns)];
  let failure: unknown;
  await Promise.all(Array.from({ length: Math.min(8, names.length) }, async () => {
    for (let ns = names.shift(); ns !== undefined && failure === undefined; ns = names.shift()) {
      try {
        signal?.throwIfAborted();
        created(ns);
        if (!await netnsCreate(ns, { loopbackUp: true, signal })) throw new UnavailableError(`netns add ${ns}: a namespace of that name exists already`);
      } catch (e) { failure ??= e; }
    }
  }));
  if (failure !== undefined) throw failure;
  // The hub: a bridge (no STP, no multicast snooping: a plain wire), one port per node.
  const hub = [
    `link add ${p.bridge} type bridge stp_state 0 mcast_snooping 0`,
    `link set ${p.bridge} up`,
    ...p.nodes.flatMap((n) => [
      `link add ${n.port} type veth peer name ul0 netns ${n.netns}`,
      `link set ${n.port} master ${p.bridge} up`,
    ]),
  ];
  await ip(['-n', p.hub, '-batch', '-'], `${hub.join('\n')}\n`, signal);
  // Each node's end: a few at a time (a thousand-node lab waited on a thousand `ip` runs in a row).
  const queue = [...p.nodes];
  await Promise.all(Array.from({ length: Math.min(8, queue.length) }, async () => {
    for (let n = queue.shift(); n; n = queue.shift()) {
      signal?.throwIfAborted();
      const cmds = [
        `addr add ${n.ipv4}/${UNDERLAY_V4.prefixLength} dev ul0`,
        `addr add ${n.ipv6}/${UNDERLAY_V6.prefixLength} dev ul0 nodad`,
        'link set ul0 up',
      ];
      await ip(['-n', n.netns, '-batch', '-'], `${cmds.join('\n')}\n`, signal);
    }
  }));
}

/**
 * Links in a namespace that visp built for this slice (alias "visp:<slice>/…").
 * Not a count of everything: a kernel with ip_gre adds its own fallback
 * devices (gre0, gretap0, erspan0, …) to every namespace. One netlink dump
 * (not an `ip` process: a thousand-node lab asks this of every node while
 * it waits for the agents to clean up).
 */
export async function builtLinks(netns: string, slice: string): Promise<string[]> {
  let s: NetlinkSocket;
  try { s = new NetlinkSocket({ netns }); } catch { return []; }   // gone: nothing left in it
  try {
    return (await linkList(s)).filter((l) => parseAlias(l.alias)?.slice === slice).map((l) => l.name);
  } catch {
    return [];
  } finally {
    s.close();
  }
}

/** Delete namespaces; already gone is fine. Returns the ones that could not be deleted, with why. */
export async function deleteNetns(names: readonly string[]): Promise<string[]> {
  const problems: string[] = [];
  const del = async (ns: string): Promise<void> => {
    try {
      await netnsDel(ns);
    } catch (e) {
      problems.push(`${ns}: ${(e as Error).message}`);
    }
  };
  // A few at a time (the kernel reclaims namespaces in batches of its own), in the order given within each wave:
  // the callers list a lab's experiment namespaces before its nodes and the hub last.
  const queue = [...names];
  await Promise.all(Array.from({ length: Math.min(8, queue.length) }, async () => { for (let ns = queue.shift(); ns !== undefined; ns = queue.shift()) await del(ns); }));
  return problems;
}
