// Namespaces for kernel tests: unique names ("vt-…", which the global leak
// check watches), always removed, also when a test fails.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';

export const isRoot = process.getuid?.() === 0;
/** Reason kernel tests skip, printed by the suite; undefined when they can run. */
export const kernelSkipReason = isRoot ? undefined : 'kernel tests need root (CAP_NET_ADMIN) to create network namespaces';
if (kernelSkipReason) console.warn(`SKIP: ${kernelSkipReason}`);

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
export const ipIn = (ns: string, ...args: string[]): string => sh('ip', ['-n', ns, ...args]);
export const execIn = (ns: string, cmd: string, ...args: string[]): string => sh('ip', ['netns', 'exec', ns, cmd, ...args]);

const created = new Set<string>();

// The run's token (set by the global setup): the leak check then looks only
// at this run's namespaces, so two test runs on one machine do not blame
// each other.
const RUN = process.env.VISP_TEST_RUN ?? 'x';

/** A fresh namespace with lo up; removed after the file's tests. */
export function makeNetns(tag: string): string {
  const name = `vt-${RUN}-${tag}-${randomBytes(3).toString('hex')}`.slice(0, 40);
  sh('ip', ['netns', 'add', name]);
  created.add(name);
  ipIn(name, 'link', 'set', 'lo', 'up');
  return name;
}

export function delNetns(name: string): void {
  try { sh('ip', ['netns', 'del', name]); } catch { /* already gone */ }
  created.delete(name);
}

afterAll(() => { for (const n of [...created]) delNetns(n); });

/** JSON view of links in a namespace, as iproute2 (an independent decoder) sees them. */
export function ipLinks(ns: string): Array<Record<string, any>> {
  return JSON.parse(ipIn(ns, '-d', '-j', 'link', 'show')) as Array<Record<string, any>>;
}
export function ipLink(ns: string, name: string): Record<string, any> {
  return (JSON.parse(ipIn(ns, '-d', '-j', 'link', 'show', 'dev', name)) as Array<Record<string, any>>)[0]!;
}

/**
 * Two "nodes" joined by a veth underlay: 198.18.0.1/24 + 2001:db8:ff::1/64 on
 * node A, .2 / ::2 on node B. Returns their names.
 */
export function underlayPair(tag: string): { a: string; b: string; a4: string; b4: string; a6: string; b6: string } {
  const a = makeNetns(`${tag}a`), b = makeNetns(`${tag}b`);
  ipIn(a, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', b);
  for (const [ns, n] of [[a, 1], [b, 2]] as const) {
    ipIn(ns, 'addr', 'add', `198.18.0.${n}/24`, 'dev', 'ul0');
    ipIn(ns, '-6', 'addr', 'add', `2001:db8:ff::${n}/64`, 'dev', 'ul0', 'nodad');
    ipIn(ns, 'link', 'set', 'ul0', 'up');
  }
  return { a, b, a4: '198.18.0.1', b4: '198.18.0.2', a6: '2001:db8:ff::1', b6: '2001:db8:ff::2' };
}

/**
 * Three "nodes" on one underlay bridge (br0 in a hub namespace of its own):
 * 198.18.<subnet>.1–3/24 on each node's ul0, and <v6prefix>1–3/64 when given.
 */
export function threeNodes(tag: string, subnet: number, v6prefix?: string): string[] {
  const hub = makeNetns(`${tag}hub`);
  ipIn(hub, 'link', 'add', 'br0', 'type', 'bridge');
  ipIn(hub, 'link', 'set', 'br0', 'up');
  return [1, 2, 3].map((i) => {
    const n = makeNetns(`${tag}${i}`);
    ipIn(hub, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', n);
    ipIn(hub, 'link', 'set', `p${i}`, 'master', 'br0', 'up');
    ipIn(n, 'addr', 'add', `198.18.${subnet}.${i}/24`, 'dev', 'ul0');
    if (v6prefix) ipIn(n, '-6', 'addr', 'add', `${v6prefix}${i}/64`, 'dev', 'ul0', 'nodad');
    ipIn(n, 'link', 'set', 'ul0', 'up');
    return n;
  });
}
