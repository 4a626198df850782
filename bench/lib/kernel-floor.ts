// The kernel's floor for a lab topology: the same objects visp builds for it
// (per endpoint: bridge, VXLAN port, veth pair with its far end renamed and
// addressed in an experiment namespace), made by iproute2 alone — per node,
// all at once: `ip netns add` for each experiment namespace, one `ip -batch`
// in the node namespace and one in each experiment namespace — then removed
// with one group delete per node namespace, all at once. No controller, no
// agents: what is left of visp's times above this is visp's own.
import { execFile } from 'node:child_process';
import type { LabNode } from './lab-env.js';

const GROUP = 77;

function ip(args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = execFile('ip', args, { encoding: 'utf8' }, (err, _out, stderr) => (err ? reject(new Error(`ip ${args.slice(0, 4).join(' ')}: ${stderr.trim() || err.message}`)) : resolve()));
    if (input !== undefined) c.stdin!.end(input);
  });
}

export interface FloorLink { id: string; a: number; b: number }

/** Returns seconds for building and for the group deletes. `expNs(i)` names node i's experiment namespace (removed here). */
export async function kernelFloor(nodes: readonly LabNode[], links: readonly FloorLink[], expNs: (i: number) => string): Promise<{ provisionS: number; teardownS: number }> {
  const perNode = nodes.map(() => [] as Array<{ k: number; vni: number; remote: string; addr: string; ifname: string }>);
  links.forEach((l, k) => {
    // /31s as visp gives them (each experiment namespace is separate, so wrapping around 192.0.2.0/24 is harmless); VNI = link number + 1.
    const base = (2 * k) % 256;
    perNode[l.a]!.push({ k, vni: k + 1, remote: nodes[l.b]!.ipv4, addr: `192.0.2.${base}/31`, ifname: `eth${perNode[l.a]!.length + 1}` });
    perNode[l.b]!.push({ k, vni: k + 1, remote: nodes[l.a]!.ipv4, addr: `192.0.2.${base + 1}/31`, ifname: `eth${perNode[l.b]!.length + 1}` });
  });
  const made: string[] = [];
  const t0 = performance.now();
  try {
    await Promise.all(nodes.map(async (node, i) => {
      const x = expNs(i);
      made.push(x);
      await ip(['netns', 'add', x]);
      await ip(['-n', x, 'link', 'set', 'lo', 'up']);
      const lines: string[] = [];
      for (const e of perNode[i]!) {
        lines.push(
          `link add kb${e.k} group ${GROUP} mtu 1450 type bridge stp_state 0`,
          `link add kt${e.k} group ${GROUP} mtu 1450 type vxlan id ${e.vni} local ${node.ipv4} remote ${e.remote} dstport 4789 nolearning`,
          `link set kt${e.k} master kb${e.k}`,
          `link add kh${e.k} group ${GROUP} mtu 1450 type veth peer name ${e.ifname} netns ${x}`,
          `link set kh${e.k} master kb${e.k}`,
          `link set kb${e.k} up`, `link set kt${e.k} up`, `link set kh${e.k} up`,
        );
      }
      await ip(['-n', node.netns, '-batch', '-'], `${lines.join('\n')}\n`);
      await ip(['-n', x, '-batch', '-'], `${perNode[i]!.flatMap((e) => [`addr add ${e.addr} dev ${e.ifname}`, `link set ${e.ifname} up`]).join('\n')}\n`);
    }));
    const t1 = performance.now();
    await Promise.all(nodes.map((node) => ip(['-n', node.netns, 'link', 'del', 'group', String(GROUP)])));
    const t2 = performance.now();
    return { provisionS: (t1 - t0) / 1000, teardownS: (t2 - t1) / 1000 };
  } finally {
    await Promise.all(made.map((x) => ip(['netns', 'del', x]).catch(() => undefined)));
  }
}
