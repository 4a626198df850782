// Planning is pure: these tests build kernel views by hand and check the
// steps, so every rule is covered without root.
import { describe, expect, it } from 'vitest';
import { IncompatibleStateError } from '../errors.js';
import { encodePortFlags } from '../bridge/bridge.js';
import { joinedRules } from '../bridge/redirect.js';
import { ANCHOR, ANCHOR_ALIAS } from '../bridge/anchor.js';
import { IFF } from '../netlink/constants.js';
import type { Link } from '../netlink/link.js';
import { drivers } from '../tunnel/index.js';
import { planEndpoint, type Step } from './plan.js';
import { addLink, emptyView, type NsView } from './snapshot.js';
import { resolveEndpoint, type EndpointSpec, type ResolvedEndpoint } from './spec.js';

const spec: EndpointSpec = {
  slice: 's1', link: 'l1', group: 1001, kind: 'vxlan', key: 4711, local: '198.18.0.1', remotes: ['198.18.0.2'],
  netns: 'exp', ifname: 'eth1', addresses: ['192.0.2.0/31'],
};

function view(links: Link[], addrs: Record<number, string[]> = {}, fdb: Record<number, string[]> = {}): NsView {
  const v = emptyView();
  for (const l of links) addLink(v, l);
  for (const [i, a] of Object.entries(addrs)) v.addrs.set(Number(i), a);
  for (const [i, d] of Object.entries(fdb)) v.fdb.set(Number(i), new Set(d));
  return v;
}

/** The node's anchor bridge, down (src/bridge/anchor.ts). */
const anchorLink: Link = { index: 9, name: ANCHOR, kind: 'bridge', flags: 0, up: false, alias: ANCHOR_ALIAS };

/**
 * The kernel state a correct apply of `r` leaves behind: tunnel 11 and veth
 * host end 20 joined by redirect (a kernel VXLAN also a port of the anchor,
 * 9), or with bridge 10 as their master.
 */
function built(r: ResolvedEndpoint): { node: NsView; exp: NsView } {
  const mark = { alias: `visp:${r.spec.slice}/${r.spec.link}`, group: r.mark.group };
  const up = { flags: IFF.UP, up: true, mtu: r.mtu, ...mark };
  const bridged = r.join === 'bridge';
  const br: Link = { index: 10, name: r.bridge, kind: 'bridge', ...up };
  const tunnels: Link[] = r.tunnels.map((t, i) => ({
    index: 11 + i, name: t.name, kind: drivers[t.kind].linkKind!, ...up, infoData: Buffer.concat(drivers[t.kind].encode(t)),
    ...(bridged ? { master: 10, slaveKind: 'bridge', slaveData: Buffer.concat(encodePortFlags({ isolated: r.isolate, learning: true })) } : {}),
    ...(!bridged && t.kind === 'vxlan' ? { master: 9, slaveKind: 'bridge' } : {}),
  }));
  const host: Link = { index: 20, name: r.vethHost, kind: 'veth', ...(bridged ? { master: 10 } : {}), link: 5, ...up };
  const peer: Link = { index: 5, name: r.spec.ifname, kind: 'veth', link: 20, ...up };
  const node = view([{ ...anchorLink }, ...(bridged ? [br] : []), ...tunnels, host], {}, r.fdb.length ? { 11: r.fdb } : {});
  node.ingress = new Map(bridged ? [] : [[11, joinedRules(20)], [20, joinedRules(11)]]);
  return { node, exp: view([peer], { 5: r.addresses }) };
}

const gretapLan: EndpointSpec = { ...spec, kind: 'gretap', remotes: ['198.18.0.2', '198.18.0.3'] };

const ops = (steps: Step[]): string[] => steps.map((s) => s.op + ('name' in s ? ` ${s.name}` : '') + ('cidr' in s ? ` ${s.cidr}` : '') + ('dst' in s ? ` ${s.dst}` : ''));

describe('planEndpoint', () => {
  it('builds everything on an empty node, in dependency order', () => {
    const r = resolveEndpoint(spec);
    expect(ops(planEndpoint(r, emptyView(), emptyView()))).toEqual(['create-anchor', 'create-tunnel', 'create-veth', 'join', 'join', 'add-addr 192.0.2.0/31']);
    // The anchor is the node's: made once, then there.
    expect(ops(planEndpoint(r, view([anchorLink]), emptyView()))).toEqual(['create-tunnel', 'create-veth', 'join', 'join', 'add-addr 192.0.2.0/31']);
    expect(planEndpoint(r, emptyView(), emptyView()).filter((s) => s.op === 'join')).toEqual([
      { op: 'join', device: r.tunnels[0]!.name, peer: r.vethHost, rebuild: false, why: 'new device' },
      { op: 'join', device: r.vethHost, peer: r.tunnels[0]!.name, rebuild: false, why: 'new device' },
    ]);
    // A LAN over point-to-point tunnels has a bridge.
    expect(ops(planEndpoint(resolveEndpoint(gretapLan), emptyView(), emptyView()))).toEqual(['create-bridge', 'create-tunnel', 'set-port', 'create-tunnel', 'set-port', 'create-veth', 'add-addr 192.0.2.0/31'].map((o, i) => (o === 'set-port' ? `set-port ${resolveEndpoint(gretapLan).tunnels[i === 2 ? 0 : 1]!.name}` : o)));
  });

  it('which endpoints are joined by redirect and which by a bridge', () => {
    expect(resolveEndpoint(spec).join).toBe('redirect');
    expect(resolveEndpoint({ ...spec, remotes: ['198.18.0.2', '198.18.0.3'] }).join).toBe('redirect');   // a VXLAN LAN: one device
    expect(resolveEndpoint({ ...spec, kind: 'gretap' }).join).toBe('redirect');
    expect(resolveEndpoint(gretapLan).join).toBe('bridge');
    expect(resolveEndpoint({ ...gretapLan, remotes: ['198.18.0.2'], lan: true }).join).toBe('bridge');   // a LAN keeps its shape as members leave
    expect(resolveEndpoint({ ...spec, egress: true }).join).toBe('bridge');   // the bridge is the egress node's interface
  });

  it.each<[string, (n: NsView) => void, Step]>([
    ['the redirect deleted by hand', (n) => { n.ingress!.delete(11); }, { op: 'join', device: 'T', peer: 'H', rebuild: true, why: 'not joined' }],
    ['a redirect to an old ifindex of its peer', (n) => { n.ingress!.set(11, joinedRules(19)); }, { op: 'join', device: 'T', peer: 'H', rebuild: true, why: 'redirects to ifindex 19, not 20' }],
    ['the probe filter gone', (n) => { n.ingress!.set(20, joinedRules(11).slice(1)); }, { op: 'join', device: 'H', peer: 'T', rebuild: true, why: 'probe filter missing or changed' }],
    ['a foreign filter beside ours', (n) => { n.ingress!.set(20, [...joinedRules(11), { prio: 5, protocol: 3, kind: 'bpf', final: false, actions: 0 }]); },
      { op: 'join', device: 'H', peer: 'T', rebuild: true, why: 'foreign filter at prio 5' }],
  ])('redirect drift: %s → rejoined, saying why', (_n, spoil, want) => {
    const r = resolveEndpoint(spec);
    const { node, exp } = built(r);
    spoil(node);
    const name = (x: string): string => (x === 'T' ? r.tunnels[0]!.name : x === 'H' ? r.vethHost : x);
    expect(planEndpoint(r, node, exp)).toEqual([{ ...want, device: name((want as { device: string }).device), peer: name((want as { peer: string }).peer) }]);
  });

  it('redirect: filters not read this pass → not checked; a device put on a bridge by hand is taken off it', () => {
    const r = resolveEndpoint(spec);
    const { node, exp } = built(r);
    node.ingress = undefined;
    expect(planEndpoint(r, node, exp)).toEqual([]);
    // A VXLAN belongs on the anchor (src/bridge/anchor.ts); the veth's host end on nothing.
    node.byName.get(r.tunnels[0]!.name)!.master = 99;
    node.byName.get(r.vethHost)!.master = 99;
    expect(planEndpoint(r, node, exp)).toEqual([
      expect.objectContaining({ op: 'set-link', name: r.tunnels[0]!.name, fix: { master: 'anchor' }, why: 'master ifindex 99 → anchor' }),
      expect.objectContaining({ op: 'set-link', name: r.vethHost, fix: { master: 'none' } }),
    ]);
    // Something else of that name where the anchor belongs: refused, never touched.
    node.byName.set(ANCHOR, { ...anchorLink, alias: 'theirs' });
    expect(() => planEndpoint(r, node, exp)).toThrow(/visp-pmtu exists and is not visp's anchor bridge/);
  });

  it('the anchor: up (it would forward between links) or unmarked (its creation interrupted) is put right; a gretap endpoint with two tunnels is always bridged', () => {
    const r = resolveEndpoint(spec);
    const { node, exp } = built(r);
    node.byName.get(ANCHOR)!.up = true;
    expect(planEndpoint(r, node, exp)).toEqual([{ op: 'create-anchor', why: 'up → down (up, it would forward between links)' }]);
    node.byName.set(ANCHOR, { ...anchorLink, alias: undefined });
    expect(planEndpoint(r, node, exp)).toEqual([{ op: 'create-anchor', why: 'not marked (its creation was interrupted)' }]);
    expect(resolveEndpoint({ ...gretapLan, lan: false }).join).toBe('bridge');
  });

  it('a device being rejoined comes up with its join, not before it', () => {
    const r = resolveEndpoint(spec);
    const { node, exp } = built(r);
    node.ingress!.delete(20);
    node.byName.get(r.vethHost)!.up = false;
    node.byName.get(r.vethHost)!.mtu = 1400;
    const steps = planEndpoint(r, node, exp);
    expect(steps).toEqual([
      expect.objectContaining({ op: 'set-link', name: r.vethHost, fix: { mtu: r.mtu }, why: `mtu 1400 → ${r.mtu}` }),
      { op: 'join', device: r.vethHost, peer: r.tunnels[0]!.name, rebuild: true, why: 'not joined' },
    ]);
  });

  it('a point-to-point gretap link becoming a LAN: its redirect goes, the bridge comes, the new member gets a tunnel', () => {
    const p2p = resolveEndpoint({ ...spec, kind: 'gretap' });
    const { node, exp } = built(p2p);
    const steps = planEndpoint(resolveEndpoint(gretapLan), node, exp);
    const [t0, t1] = resolveEndpoint(gretapLan).tunnels.map((t) => t.name);
    expect(ops(steps)).toEqual(['create-bridge', 'unjoin', `set-link ${t0}`, `set-port ${t0}`, 'create-tunnel', `set-port ${t1}`, 'unjoin', `set-link ${p2p.vethHost}`]);
    expect(steps.filter((s) => s.op === 'unjoin').map((s) => (s as { device: string }).device)).toEqual([p2p.tunnels[0]!.name, p2p.vethHost]);
  });

  it('a LAN shrinking to a point-to-point link: the bridge goes, the rest is joined by redirect', () => {
    const lanR = resolveEndpoint(gretapLan);
    const { node, exp } = built(lanR);
    const p2p = resolveEndpoint({ ...spec, kind: 'gretap' });
    const steps = planEndpoint(p2p, node, exp);
    expect(steps[0]).toEqual({ op: 'delete-link', ns: 'node', name: lanR.bridge, why: 'no longer in the spec' });
    expect(steps).toContainEqual({ op: 'delete-link', ns: 'node', name: lanR.tunnels[1]!.name, why: 'no longer in the spec' });
    expect(steps.filter((s) => s.op === 'join')).toHaveLength(2);
    expect(steps).toContainEqual(expect.objectContaining({ op: 'set-link', name: p2p.vethHost, fix: { master: 'none' } }));
  });

  it.each<[string, EndpointSpec]>([
    ['p2p vxlan', spec],
    ['vxlan LAN', { ...spec, remotes: ['198.18.0.2', '198.18.0.3'] }],
    ['gretap LAN', { ...spec, kind: 'gretap', remotes: ['198.18.0.2', '198.18.0.3', '198.18.0.4'] }],
    ['dual-stack addresses', { ...spec, addresses: ['192.0.2.0/31', '2001:db8::/127'] }],
  ])('%s: a correct node plans nothing (no-op reconcile)', (_n, s) => {
    const r = resolveEndpoint(s);
    const { node, exp } = built(r);
    expect(planEndpoint(r, node, exp)).toEqual([]);
  });

  it('a tunnel with another key is recreated, and the plan says why', () => {
    const r = resolveEndpoint(spec);
    const { node, exp } = built(r);
    const r2 = resolveEndpoint({ ...spec, key: 4712 });
    const steps = planEndpoint(r2, node, exp);
    expect(steps[0]).toEqual({ op: 'delete-link', ns: 'node', name: r.tunnels[0]!.name, why: 'key 4711 → 4712' });
    expect(steps[1]).toMatchObject({ op: 'create-tunnel' });
    // The new tunnel is joined; the veth's redirect named the old tunnel's ifindex, so it is rejoined.
    expect(steps.slice(2)).toEqual([
      { op: 'join', device: r.tunnels[0]!.name, peer: r.vethHost, rebuild: false, why: 'new device' },
      { op: 'join', device: r.vethHost, peer: r.tunnels[0]!.name, rebuild: true, why: 'its peer is new' },
    ]);
  });

  it('drift: MTU, down, detached port and missing address are fixed in place', () => {
    const r = resolveEndpoint(gretapLan);
    const { node, exp } = built(r);
    node.byName.get(r.tunnels[0]!.name)!.master = undefined;
    node.byName.get(r.bridge)!.mtu = 1500;
    exp.byName.get('eth1')!.up = false;
    exp.addrs.set(5, []);
    const steps = planEndpoint(r, node, exp);
    expect(steps).toEqual([
      expect.objectContaining({ op: 'set-link', ns: 'node', name: r.bridge, fix: { mtu: r.mtu } }),
      expect.objectContaining({ op: 'set-link', ns: 'node', name: r.tunnels[0]!.name, fix: { master: 'bridge' } }),
      expect.objectContaining({ op: 'set-link', ns: 'exp', name: 'eth1', fix: { up: true } }),
      { op: 'add-addr', cidr: '192.0.2.0/31' },
    ]);
  });

  // The experiment namespace is the experimenter's: visp removes only addresses it assigned itself.
  it.each<[string, EndpointSpec, string[], string[] | undefined, string[]]>([
    ["an experimenter's secondary address and /128 stay", spec, ['192.0.2.0/31', '198.51.100.9/24', '2001:db8:1::9/128'], undefined, []],
    ['…also when visp remembers an earlier spec', spec, ['192.0.2.0/31', '198.51.100.9/24'], ['192.0.2.0/31'], []],
    ['SLAAC-style and ULA addresses stay', { ...spec, addresses: ['192.0.2.0/31', '2001:db8::/127'] }, ['192.0.2.0/31', '2001:db8::/127', '2001:db8:0:1:5054:ff:fe12:3456/64'], undefined, []],
    ['one of ours missing: added, theirs kept', spec, ['198.51.100.9/24'], undefined, ['add-addr 192.0.2.0/31']],
    ['an address an earlier spec of ours had: removed', { ...spec, addresses: ['192.0.2.2/31'] }, ['192.0.2.0/31', '198.51.100.9/24'], ['192.0.2.0/31'], ['add-addr 192.0.2.2/31', 'del-addr 192.0.2.0/31']],
    ['an earlier address of ours that someone already removed: nothing to do', spec, ['192.0.2.0/31'], ['192.0.2.0/31', '192.0.2.4/31'], []],
  ])('addresses: %s', (_n, s, have, former, want) => {
    const r = resolveEndpoint(s);
    const { node, exp } = built(r);
    exp.addrs.set(5, have);
    expect(ops(planEndpoint(r, node, exp, former ? { formerAddresses: former } : {}))).toEqual(want);
  });

  it('addresses on the egress end (the bridge in the node namespace): the same rule', () => {
    const r = resolveEndpoint({ ...spec, egress: true, addresses: ['203.0.113.1/30'] });
    const node = view([...built(r).node.byName.values()].filter((l) => l.name !== r.vethHost), { 10: ['203.0.113.1/30', '198.51.100.1/32'] });
    expect(ops(planEndpoint(r, node, emptyView()))).toEqual([]);
    expect(ops(planEndpoint({ ...r, addresses: [] }, node, emptyView(), { formerAddresses: ['203.0.113.1/30'] }))).toEqual(['del-addr 203.0.113.1/30']);
  });

  it('an experiment interface deleted by hand: the veth pair is rebuilt', () => {
    const r = resolveEndpoint(spec);
    const { node, exp } = built(r);
    exp.byName.delete('eth1');
    // The new veth is joined, and so is the tunnel again (its redirect named the old veth's ifindex).
    expect(ops(planEndpoint(r, node, exp))).toEqual([`delete-link ${r.vethHost}`, 'create-veth', 'join', 'join', 'add-addr 192.0.2.0/31']);
  });

  it('refuses to touch an interface it does not own', () => {
    const r = resolveEndpoint(spec);
    const foreign: Link = { index: 3, name: 'eth1', kind: 'veth', flags: 0, up: true, alias: 'operator-made' };
    expect(() => planEndpoint(r, emptyView(), view([foreign]))).toThrow(IncompatibleStateError);
    expect(() => planEndpoint(r, emptyView(), view([foreign]))).toThrow(/eth1 exists and is not owned by visp:s1\/l1/);
    const foreignTunnel: Link = { index: 3, name: r.tunnels[0]!.name, kind: 'vxlan', flags: 0, up: true };
    expect(() => planEndpoint(r, view([foreignTunnel]), emptyView())).toThrow(/not owned/);
    const foreignBridge: Link = { index: 3, name: r.bridge, kind: 'bridge', flags: 0, up: true };
    expect(() => planEndpoint(resolveEndpoint(gretapLan), view([foreignBridge]), emptyView())).toThrow(/not owned/);
  });

  it('adopts an object whose alias was never set (create interrupted) by its group, and sets the alias', () => {
    const r = resolveEndpoint(spec);
    const { node, exp } = built(r);
    node.byName.get(r.tunnels[0]!.name)!.alias = undefined;
    expect(planEndpoint(r, node, exp)).toEqual([expect.objectContaining({ op: 'set-link', name: r.tunnels[0]!.name, fix: { alias: true } })]);
  });

  it('a member leaving a gretap LAN: its tunnel is deleted, the others stay', () => {
    const r3 = resolveEndpoint({ ...spec, kind: 'gretap', remotes: ['198.18.0.2', '198.18.0.3', '198.18.0.4'] });
    const { node, exp } = built(r3);
    const r2 = resolveEndpoint({ ...spec, kind: 'gretap', remotes: ['198.18.0.2', '198.18.0.3'] });
    expect(planEndpoint(r2, node, exp)).toEqual([{ op: 'delete-link', ns: 'node', name: r3.tunnels[2]!.name, why: 'no longer in the spec' }]);
  });

  it('a member joining a VXLAN LAN: one flood entry added; a leaver: one removed', () => {
    const r = resolveEndpoint({ ...spec, remotes: ['198.18.0.2', '198.18.0.3'] });
    const { node, exp } = built(r);
    const grown = resolveEndpoint({ ...spec, remotes: ['198.18.0.2', '198.18.0.3', '198.18.0.4'] });
    expect(ops(planEndpoint(grown, node, exp))).toEqual(['add-fdb 198.18.0.4']);
    const shrunk = resolveEndpoint({ ...spec, remotes: ['198.18.0.2', '198.18.0.4'] });
    expect(ops(planEndpoint(shrunk, node, exp)).sort()).toEqual(['add-fdb 198.18.0.4', 'del-fdb 198.18.0.3']);
  });

  it('a gretap port that lost its isolation gets it back', () => {
    const r = resolveEndpoint({ ...spec, kind: 'gretap', remotes: ['198.18.0.2', '198.18.0.3'] });
    const { node, exp } = built(r);
    node.byName.get(r.tunnels[1]!.name)!.slaveData = Buffer.concat(encodePortFlags({ isolated: false, learning: true }));
    expect(planEndpoint(r, node, exp)).toEqual([{ op: 'set-port', name: r.tunnels[1]!.name, flags: { isolated: true, learning: true } }]);
  });

  it('layer-3 gre: the tunnel itself is the experiment interface', () => {
    const r = resolveEndpoint({ ...spec, kind: 'gre' });
    expect(ops(planEndpoint(r, emptyView(), emptyView()))).toEqual(['create-l3-tunnel', 'add-addr 192.0.2.0/31']);
    const dev: Link = {
      index: 7, name: 'eth1', kind: 'gre', flags: IFF.UP, up: true, mtu: r.mtu, alias: 'visp:s1/l1', group: 1001,
      infoData: Buffer.concat(drivers.gre.encode(r.tunnels[0]!)),
    };
    expect(planEndpoint(r, emptyView(), view([dev], { 7: ['192.0.2.0/31'] }))).toEqual([]);
  });

  it('stop (adminDown) holds the experiment interface down and nothing else', () => {
    const r = resolveEndpoint(spec);
    const { node, exp } = built(r);
    const stopped = resolveEndpoint({ ...spec, adminDown: true });
    expect(planEndpoint(stopped, node, exp)).toEqual([expect.objectContaining({ op: 'set-link', ns: 'exp', name: 'eth1', fix: { up: false } })]);
  });

  it('the egress end: bridge and tunnel in the node namespace, addresses on the bridge, no veth', () => {
    const r = resolveEndpoint({ ...spec, egress: true, netns: '', ifname: '' });
    expect(ops(planEndpoint(r, emptyView(), emptyView()))).toEqual(['create-bridge', 'create-tunnel', 'add-addr 192.0.2.0/31']);
    // What a correct apply leaves: the built state without the veth.
    const node = view([...built(r).node.byName.values()].filter((l) => l.name !== r.vethHost), { 10: ['192.0.2.0/31'] });
    expect(planEndpoint(r, node, node)).toEqual([]);
    node.addrs.set(10, []);
    expect(ops(planEndpoint(r, node, node))).toEqual(['add-addr 192.0.2.0/31']);
    expect(() => resolveEndpoint({ ...spec, kind: 'gre', egress: true })).toThrow(/kind: gre is layer 3; an egress link/);
  });

  it('routes through the experiment interface: added after the address, kept, removed while stopped', () => {
    const routes = [{ dst: '0.0.0.0/0', via: '192.0.2.1' }];
    const r = resolveEndpoint({ ...spec, routes });
    expect(ops(planEndpoint(r, view([anchorLink]), emptyView()))).toEqual(['create-tunnel', 'create-veth', 'join', 'join', 'add-addr 192.0.2.0/31', 'add-route 0.0.0.0/0']);
    const { node, exp } = built(r);
    exp.routes.set(5, [...routes]);
    expect(planEndpoint(r, node, exp)).toEqual([]);
    const stopped = resolveEndpoint({ ...spec, routes, adminDown: true });
    expect(planEndpoint(stopped, node, exp)).toContainEqual({ op: 'del-route', dst: '0.0.0.0/0', via: '192.0.2.1' });
    expect(() => resolveEndpoint({ ...spec, routes: [{ dst: '0.0.0.0/0', via: '2001:db8::1' }] })).toThrow(/routes\[0\]\.via/);
  });
});
