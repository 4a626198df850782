// What a namespace looks like, as iproute2 (an independent decoder) reports
// it: one line per link with every attribute the workload sets, addresses
// and tc (clsact qdisc, its filters and their actions) included. Two
// contenders built the same end state when their lines match.
import { ipIn, sh } from './scratch.js';

interface IpLink {
  ifname: string; flags: string[]; mtu: number; master?: string; group: string; ifalias?: string; inet6_addr_gen_mode?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown>; info_slave_data?: Record<string, unknown> };
}
interface IpAddrs { ifname: string; addr_info: Array<{ family: string; local: string; prefixlen: number; scope: string }> }

const VXLAN_KEYS = ['id', 'local', 'remote', 'port', 'learning', 'ttl'];

interface TcQdisc { kind: string; dev: string }
interface TcFilter {
  protocol: string; pref: number; kind: string;
  options?: { match?: { value: string; mask: string; off: number }; flowid?: string; actions?: Array<{ kind: string; mirred_action?: string; direction?: string; to_dev?: string }> };
}

/**
 * Per device with a clsact qdisc: "clsact" and its filters, one phrase
 * each (handles and action indexes left out: they differ per run). One
 * `tc -batch` for all the devices' filter lists.
 */
function tcPhrases(ns: string): Map<string, string> {
  const devs = (JSON.parse(sh('tc', ['-n', ns, '-j', 'qdisc', 'show'])) as TcQdisc[]).filter((q) => q.kind === 'clsact').map((q) => q.dev);
  const out = new Map<string, string>();
  if (!devs.length) return out;
  const cmds = devs.flatMap((d) => [`filter show dev ${d} ingress`, `filter show dev ${d} egress`]);
  // With -j each command prints one JSON array on a line of its own.
  const lists = sh('tc', ['-n', ns, '-j', '-batch', '-'], `${cmds.join('\n')}\n`).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as TcFilter[]);
  if (lists.length !== cmds.length) throw new Error(`tc -batch in ${ns}: ${lists.length} answers for ${cmds.length} filter lists`);
  devs.forEach((d, i) => {
    const phrases = ['clsact'];
    for (const [hook, list] of [['ingress', lists[2 * i]!], ['egress', lists[2 * i + 1]!]] as const) {
      for (const f of list) {
        const o = f.options;
        if (!o?.match && !o?.actions) continue; // the u32 hash table entries iproute2 lists before each rule
        const acts = (o.actions ?? []).map((a) => `${a.kind} ${a.direction ?? ''} ${a.mirred_action ?? ''} ${a.to_dev ?? ''}`.replace(/ +/g, ' ').trim());
        phrases.push(`${hook} pref ${f.pref} protocol ${f.protocol} ${f.kind}${o.match ? ` match ${o.match.value}/${o.match.mask} at ${o.match.off}` : ''}${o.flowid ? ` flowid ${o.flowid}` : ''}${acts.length ? ` action ${acts.join(', ')}` : ''}`);
      }
    }
    out.set(d, phrases.join('; '));
  });
  return out;
}

/**
 * Lines describing every link except lo. Namespace names are left out
 * (they differ per run), so lines from two runs compare directly.
 */
function namespaceLines(ns: string): string[] {
  const links = JSON.parse(ipIn(ns, '-d', '-j', 'link', 'show')) as IpLink[];
  const addrs = new Map((JSON.parse(ipIn(ns, '-j', 'addr', 'show')) as IpAddrs[]).map((a) => [a.ifname, a.addr_info]));
  const tc = tcPhrases(ns);
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
    if (tc.has(l.ifname)) parts.push(`tc ${tc.get(l.ifname)!}`);
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

/** "1000 vxlan, 1000 veth, …": links per kind and addresses, for logs. */
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

/** Links (other than lo) left in the namespaces; the node's anchor too (visp deletes it with its last port: src/bridge/anchor.ts). */
export function leftovers(namespaces: readonly string[]): number {
  return namespaces.reduce((n, ns) => n + namespaceLines(ns).length, 0);
}
