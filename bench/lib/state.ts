// What a namespace looks like, as iproute2 (an independent decoder) reports
// it: one line per link with every attribute the workload sets, addresses
// included. Two contenders built the same end state when their lines match.
import { ipIn } from './scratch.js';

interface IpLink {
  ifname: string; flags: string[]; mtu: number; master?: string; group: string; ifalias?: string; inet6_addr_gen_mode?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_data?: Record<string, unknown> };
}
interface IpAddrs { ifname: string; addr_info: Array<{ family: string; local: string; prefixlen: number; scope: string }> }

const VXLAN_KEYS = ['id', 'local', 'remote', 'port', 'learning', 'ttl'];

/**
 * Lines describing every link except lo. Namespace names are left out
 * (they differ per run), so lines from two runs compare directly.
 */
function namespaceLines(ns: string): string[] {
  const links = JSON.parse(ipIn(ns, '-d', '-j', 'link', 'show')) as IpLink[];
  const addrs = new Map((JSON.parse(ipIn(ns, '-j', 'addr', 'show')) as IpAddrs[]).map((a) => [a.ifname, a.addr_info]));
  const out: string[] = [];
  for (const l of links) {
    if (l.ifname === 'lo') continue;
    const kind = l.linkinfo?.info_kind ?? '?';
    const parts = [l.ifname, kind, `mtu ${l.mtu}`, l.flags.includes('UP') ? 'up' : 'down', `group ${l.group}`, `alias ${l.ifalias ?? '-'}`,
      `addrgenmode ${l.inet6_addr_gen_mode ?? '-'}`];
    if (l.master) parts.push(`master ${l.master}`);
    const data = l.linkinfo?.info_data ?? {};
    if (kind === 'vxlan') parts.push(...VXLAN_KEYS.map((k) => `${k} ${String(data[k])}`));
    if (kind === 'bridge') parts.push(`stp ${String(data.stp_state)}`);
    const port = l.linkinfo?.info_slave_data;
    if (port) parts.push(`port learning ${String(port.learning)} isolated ${String(port.isolated)}`);
    const global = (addrs.get(l.ifname) ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`).sort();
    if (global.length) parts.push(`addr ${global.join(' ')}`);
    out.push(parts.join(' '));
  }
  return out.sort();
}

/** Lines for the node and experiment namespaces, prefixed by role. */
export function endState(node: string, exps: readonly string[]): string[] {
  return [
    ...namespaceLines(node).map((l) => `node ${l}`),
    ...exps.flatMap((ns, i) => namespaceLines(ns).map((l) => `exp${i} ${l}`)),
  ];
}

/** "1000 bridge, 1000 vxlan, …": links per kind and addresses, for logs. */
export function summary(lines: readonly string[]): string {
  const count = new Map<string, number>();
  let addrs = 0;
  for (const l of lines) {
    const [role, , kind] = l.split(' ');
    const key = `${role!.startsWith('exp') ? 'exp' : 'node'} ${kind}`;
    count.set(key, (count.get(key) ?? 0) + 1);
    const m = / addr (.*)$/.exec(l);
    if (m) addrs += m[1]!.split(' ').length;
  }
  return `${[...count].map(([k, v]) => `${v} ${k}`).join(', ')}; ${addrs} addresses`;
}

/** Links (other than lo) left in the namespaces. */
export function leftovers(namespaces: readonly string[]): number {
  return namespaces.reduce((n, ns) => n + namespaceLines(ns).length, 0);
}
