// The two-node fixture of the visp-engine tests (engine.test.ts,
// engine-xdp.test.ts): two nodes on a veth underlay (underlayPair:
// 198.18.0.0/24, 2001:db8:ff::/64), six tunnels between them, EtherIP,
// userspace gretap (TAP, with key) and layer-3 gre (TUN, with key), each
// over an IPv4 and an IPv6 underlay, each device moved into an experiment
// namespace (ProtoGENI's "grab", without the bridge + veth an agent would
// add). The gre tunnels use the same remote and key as the gretap ones: only
// the GRE protocol type tells them apart.
import type { EngineClient, EngineTunnelSpec } from '../../src/dataplane/engine-client.js';
import { ipIn, type underlayPair } from '../helpers/netns.js';

export const KEY = 4711;
export const KEY6 = 0xfeedbeef;
export const NAMES = ['eip0', 'eip6', 'gre0', 'gre6', 'gt0', 'gt6'];

/** Node b's end of every tunnel, once per inner family it carries (eip6 and gt6 carry IPv4 only). */
export const ACROSS = ['192.0.2.2', '2001:db8:1::2', '192.0.2.6', '2001:db8:2::2', '192.0.2.10', '192.0.2.14',
  '192.0.2.18', '2001:db8:3::2', '192.0.2.22', '2001:db8:4::2'];

/** One side's tunnels, with what the experiment end gets. */
export interface Side { spec: EngineTunnelSpec; addrs: string[] }

/** Node `me`'s end of the six tunnels (a: host 1 of each /30 and /64, b: host 2). */
export function sideTunnels(ul: ReturnType<typeof underlayPair>, me: 'a' | 'b'): Side[] {
  const [l4, r4, l6, r6, h] = me === 'a' ? [ul.a4, ul.b4, ul.a6, ul.b6, 1] : [ul.b4, ul.a4, ul.b6, ul.a6, 2];
  return [
    { spec: { name: 'eip0', kind: 'etherip', local: l4, remote: r4, mac: `02:00:00:00:0${h}:01` }, addrs: [`192.0.2.${h}/30`, `2001:db8:1::${h}/64`] },
    { spec: { name: 'gt0', kind: 'gretap', local: l4, remote: r4, key: KEY, mac: `02:00:00:00:0${h}:02` }, addrs: [`192.0.2.${4 + h}/30`, `2001:db8:2::${h}/64`] },
    { spec: { name: 'eip6', kind: 'etherip', local: l6, remote: r6, mac: `02:00:00:00:0${h}:03` }, addrs: [`192.0.2.${8 + h}/30`] },
    { spec: { name: 'gt6', kind: 'gretap', local: l6, remote: r6, key: KEY6, mac: `02:00:00:00:0${h}:04` }, addrs: [`192.0.2.${12 + h}/30`] },
    { spec: { name: 'gre0', kind: 'gre', local: l4, remote: r4, key: KEY }, addrs: [`192.0.2.${16 + h}/30`, `2001:db8:3::${h}/64`] },
    { spec: { name: 'gre6', kind: 'gre', local: l6, remote: r6, key: KEY6 }, addrs: [`192.0.2.${20 + h}/30`, `2001:db8:4::${h}/64`] },
  ];
}

/** Move each device from the node into the experiment namespace, address it and bring it up. */
export function placeTunnels(node: string, exp: string, list: Side[]): void {
  for (const s of list) {
    ipIn(node, 'link', 'set', s.spec.name, 'netns', exp);
    for (const a of s.addrs) ipIn(exp, 'addr', 'add', a, 'dev', s.spec.name, ...(a.includes(':') ? ['nodad'] : []));
    ipIn(exp, 'link', 'set', s.spec.name, 'up');
  }
}

/** What the agent would do: give the engine its tunnels, then move each device into the experiment. */
export async function provisionTunnels(node: string, exp: string, client: EngineClient, list: Side[]): Promise<void> {
  for (const s of list) await client.ensureTunnel(s.spec);
  placeTunnels(node, exp, list);
}
