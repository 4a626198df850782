// A VXLAN link between two experiment namespaces, built by visp.
//
//   bash scripts/demo.sh --kernel-only          build it, show it, ping across it, remove it
//   bash scripts/demo.sh --kernel-only --keep   leave it running
//   bash scripts/demo.sh --kernel-only --down   remove a kept one
// (or `node dist/examples/vxlan-pair.js [--keep|--down]` after the build)
//
// Two "nodes" (network namespaces joined by a veth underlay, 198.18.0.1 and
// .2) each get one NodeKernel, which builds its end of the link: VXLAN
// tunnel → bridge → veth pair → far end as eth1 in the experiment namespace.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { NodeKernel, type EndpointSpec, type OwnedLink } from '../src/endpoint/index.js';

const NODE_A = 'visp-demo-node-a', NODE_B = 'visp-demo-node-b';
const EXP_A = 'visp-demo-exp-a', EXP_B = 'visp-demo-exp-b';
const ALL = [EXP_A, EXP_B, NODE_A, NODE_B];
const GROUP = 4242;

const link = (local: string, remote: string, netns: string, addresses: string[]): EndpointSpec =>
  ({ slice: 'demo', link: 'a-b', group: GROUP, kind: 'vxlan', key: 4711, local, remotes: [remote], netns, ifname: 'eth1', addresses });
const SPEC_A = link('198.18.0.1', '198.18.0.2', EXP_A, ['192.0.2.1/24', '2001:db8:1::1/64']);
const SPEC_B = link('198.18.0.2', '198.18.0.1', EXP_B, ['192.0.2.2/24', '2001:db8:1::2/64']);

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const exists = (ns: string): boolean => existsSync(`/run/netns/${ns}`);
const say = (s = ''): void => { process.stdout.write(`${s}\n`); };
const indent = (text: string, by = '   '): string => text.trimEnd().split('\n').map((l) => by + l).join('\n');

/** The demo's namespaces, and the kernel probe's scratch namespace if we were stopped while it ran. */
function removeAll(): string[] {
  const removed: string[] = [];
  let probes: string[] = [];
  try { probes = readdirSync('/run/netns').filter((n) => n.startsWith(`visp-probe-${process.pid}-`)); } catch { /* no /run/netns */ }
  for (const ns of [...ALL, ...probes]) {
    if (!exists(ns)) continue;
    try { ip('netns', 'del', ns); removed.push(ns); } catch { /* reported by the leftover check */ }
  }
  return removed;
}

/** Two node namespaces joined by a veth pair: the underlay the tunnel runs over. */
function underlay(): void {
  for (const ns of [NODE_A, NODE_B]) { ip('netns', 'add', ns); ip('-n', ns, 'link', 'set', 'lo', 'up'); }
  ip('-n', NODE_A, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', NODE_B);
  for (const [ns, a] of [[NODE_A, '198.18.0.1/24'], [NODE_B, '198.18.0.2/24']] as const) {
    ip('-n', ns, 'addr', 'add', a, 'dev', 'ul0');
    ip('-n', ns, 'link', 'set', 'ul0', 'up');
  }
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((x, c) => x.padEnd(w[c]!)).join('  ').trimEnd()).join('\n');
}

function ownedTable(owned: Array<{ node: string; l: OwnedLink }>): string {
  const names = new Map(owned.map(({ l }) => [`${l.netns}/${l.index}`, l.name]));
  return table([
    ['node', 'namespace', 'interface', 'kind', 'slice/link', 'group', 'mtu', 'state', 'on bridge'],
    ...owned.map(({ node, l }) => [node, l.netns ?? '-', l.name, l.kind ?? '?', `${l.slice}/${l.link}`, String(l.group ?? '-'),
      String(l.mtu ?? '-'), l.up ? 'up' : 'down', l.master ? names.get(`${l.netns}/${l.master}`) ?? `#${l.master}` : '-']),
  ]);
}

function ping(ns: string, target: string): boolean {
  const args = ['netns', 'exec', ns, 'ping', '-c', '3', '-i', '0.3', target];
  say(`   $ ip ${args.join(' ')}`);
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  say(indent(`${r.stdout}${r.stderr}`, '   │ '));
  return r.status === 0;
}

async function demo(keep: boolean): Promise<void> {
  say('visp example: one VXLAN link between two experiment namespaces\n');
  let a: NodeKernel | undefined, b: NodeKernel | undefined;
  let ok = false;
  try {
    say('1. Underlay: two "node" namespaces joined by a veth pair');
    underlay();
    say(`   ${NODE_A} ul0 198.18.0.1/24  <->  ${NODE_B} ul0 198.18.0.2/24\n`);
    a = new NodeKernel({ netns: NODE_A });
    b = new NodeKernel({ netns: NODE_B });

    say('2. Each node reconciles its end of link demo/a-b (VXLAN, VNI 4711)');
    for (const [name, k, spec] of [['a', a, SPEC_A], ['b', b, SPEC_B]] as const) {
      const [r] = await k.reconcile([spec]);
      if (r!.error) throw r!.error;
      say(`   node ${name} (${k.netns}):`);
      for (const s of r!.steps) say(`     ${s}`);
    }

    say('\n3. What visp owns now (found by its mark: alias visp:<slice>/<link> and link group)');
    const owned = [
      ...(await a.owned([EXP_A])).map((l) => ({ node: 'a', l })),
      ...(await b.owned([EXP_B])).map((l) => ({ node: 'b', l })),
    ];
    say(indent(ownedTable(owned)));

    say(`\n4. Ping across the link, IPv4 and IPv6: ${EXP_A} eth1 → ${EXP_B} eth1`);
    const pinged = ping(EXP_A, '192.0.2.2') && ping(EXP_A, '2001:db8:1::2');
    if (!pinged) throw new Error('ping across the link failed');

    say('\n5. Re-apply the same spec on both nodes');
    let steps = 0, requests = 0;
    for (const [k, spec] of [[a, SPEC_A], [b, SPEC_B]] as const) {
      const before = k.messagesSent;
      const [r] = await k.reconcile([spec]);
      if (r!.error) throw r!.error;
      steps += r!.steps.length;
      requests += k.messagesSent - before;
    }
    say(`   ${steps} steps planned: nothing to do (${requests} netlink requests, all of them reads)`);
    if (steps) throw new Error('re-applying the same spec planned steps');

    if (keep) {
      ok = true;
      say('\nLeft running (--keep). Try:');
      say(`   ip netns exec ${EXP_A} ping 192.0.2.2`);
      say(`   ip -n ${NODE_A} -d link show group ${GROUP}`);
      say('Remove everything with: bash scripts/demo.sh --kernel-only --down');
      return;
    }
    say('\n6. Tear down: one group delete per namespace, then the namespaces');
    await a.deleteSlice(GROUP, [EXP_A]);
    await b.deleteSlice(GROUP, [EXP_B]);
    const left = (await a.owned([EXP_A])).length + (await b.owned([EXP_B])).length;
    say(`   ${left} visp objects left`);
    ok = true;
  } finally {
    a?.close();
    b?.close();
    if (!ok || !keep) {
      const removed = removeAll();
      say(`   removed namespaces: ${removed.join(', ') || 'none'}`);
    }
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const unknown = args.filter((x) => x !== '--keep' && x !== '--down');
  if (unknown.length) throw new Error(`unknown option ${unknown[0]} (have --keep, --down)`);
  if (process.getuid?.() !== 0) throw new Error('the demo needs root (CAP_NET_ADMIN) to create network namespaces');
  if (args.includes('--down')) {
    const removed = removeAll();
    say(removed.length ? `removed ${removed.join(', ')}` : 'nothing to remove: no demo namespaces found');
    return;
  }
  if (ALL.some(exists)) say(`A kept demo is still up; removing it first (${removeAll().join(', ')}).\n`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: removed ${removeAll().join(', ') || 'nothing'}\n`);
      process.exit(130);
    });
  }
  await demo(args.includes('--keep'));
}

main().catch((e: unknown) => {
  process.stderr.write(`\nvxlan-pair example failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
