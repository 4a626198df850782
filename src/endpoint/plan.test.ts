// Planning is pure: these tests build kernel views by hand and check the
// steps, so every rule is covered without root.
import { describe, expect, it } from 'vitest';
import { IncompatibleStateError } from '../errors.js';
import { encodePortFlags } from '../bridge/bridge.js';
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

/** The kernel state a correct apply of `r` leaves behind. */
function built(r: ResolvedEndpoint): { node: NsView; exp: NsView } {
  const mark = { alias: `visp:${r.spec.slice}/${r.spec.link}`, group: r.mark.group };
  const up = { flags: IFF.UP, up: true, mtu: r.mtu, ...mark };
  const br: Link = { index: 10, name: r.bridge, kind: 'bridge', ...up };
  const tunnels: Link[] = r.tunnels.map((t, i) => ({
    index: 11 + i, name: t.name, kind: drivers[t.kind].linkKind!, master: 10, ...up,
    infoData: Buffer.concat(drivers[t.kind].encode(t)), slaveKind: 'bridge',
    slaveData: Buffer.concat(encodePortFlags({ isolated: r.isolate, learning: true })),
  }));
  const host: Link = { index: 20, name: r.vethHost, kind: 'veth', master: 10, link: 5, ...up };
  const peer: Link = { index: 5, name: r.spec.ifname, kind: 'veth', link: 20, ...up };
  return {
    node: view([br, ...tunnels, host], {}, r.fdb.length ? { 11: r.fdb } : {}),
    exp: view([peer], { 5: r.addresses }),
  };
}

const ops = (steps: Step[]): string[] => steps.map((s) => s.op + ('name' in s ? ` ${s.name}` : '') + ('cidr' in s ? ` ${s.cidr}` : '') + ('dst' in s ? ` ${s.dst}` : ''));

describe('planEndpoint', () => {
  it('builds everything on an empty node, in dependency order', () => {
    const r = resolveEndpoint(spec);
    expect(ops(planEndpoint(r, emptyView(), emptyView()))).toEqual(['create-bridge', 'create-tunnel', 'create-veth', 'add-addr 192.0.2.0/31']);
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
    expect(steps).toHaveLength(2);
  });

  it('drift: MTU, down, detached port and missing address are fixed in place', () => {
    const r = resolveEndpoint(spec);
    const { node, exp } = built(r);
    node.byName.get(r.tunnels[0]!.name)!.master = undefined;
    node.byName.get(r.bridge)!.mtu = 1500;
    exp.byName.get('eth1')!.up = false;
    exp.addrs.set(5, []);
    const steps = planEndpoint(r, node, exp);
    expect(steps).toEqual([
      expect.objectContaining({ op: 'set-link', ns: 'node', name: r.bridge, fix: { mtu: 1450 } }),
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
    expect(ops(planEndpoint(r, node, exp))).toEqual([`delete-link ${r.vethHost}`, 'create-veth', 'add-addr 192.0.2.0/31']);
  });

  it('refuses to touch an interface it does not own', () => {
    const r = resolveEndpoint(spec);
    const foreign: Link = { index: 3, name: 'eth1', kind: 'veth', flags: 0, up: true, alias: 'operator-made' };
    expect(() => planEndpoint(r, emptyView(), view([foreign]))).toThrow(IncompatibleStateError);
    expect(() => planEndpoint(r, emptyView(), view([foreign]))).toThrow(/eth1 exists and is not owned by visp:s1\/l1/);
    const foreignBridge: Link = { index: 3, name: r.bridge, kind: 'bridge', flags: 0, up: true };
    expect(() => planEndpoint(r, view([foreignBridge]), emptyView())).toThrow(/not owned/);
  });

  it('adopts an object whose alias was never set (create interrupted) by its group, and sets the alias', () => {
    const r = resolveEndpoint(spec);
    const { node, exp } = built(r);
    node.byName.get(r.bridge)!.alias = undefined;
    expect(planEndpoint(r, node, exp)).toEqual([expect.objectContaining({ op: 'set-link', name: r.bridge, fix: { alias: true } })]);
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
    expect(ops(planEndpoint(r, emptyView(), emptyView()))).toEqual(['create-bridge', 'create-tunnel', 'create-veth', 'add-addr 192.0.2.0/31', 'add-route 0.0.0.0/0']);
    const { node, exp } = built(r);
    exp.routes.set(5, [...routes]);
    expect(planEndpoint(r, node, exp)).toEqual([]);
    const stopped = resolveEndpoint({ ...spec, routes, adminDown: true });
    expect(planEndpoint(stopped, node, exp)).toContainEqual({ op: 'del-route', dst: '0.0.0.0/0', via: '192.0.2.1' });
    expect(() => resolveEndpoint({ ...spec, routes: [{ dst: '0.0.0.0/0', via: '2001:db8::1' }] })).toThrow(/routes\[0\]\.via/);
  });
});
