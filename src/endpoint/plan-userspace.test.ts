// Planning of userspace (visp-engine) tunnels, pure: the kernel view and the
// engine's list are built by hand. The engine's device is a plain `tun` link
// to the kernel; what it carries is compared with the engine's `list`.
import { describe, expect, it } from 'vitest';
import type { EngineTunnelState } from '../dataplane/engine-client.js';
import { encodePortFlags } from '../bridge/bridge.js';
import { joinedRules } from '../bridge/redirect.js';
import { IFF } from '../netlink/constants.js';
import type { Link } from '../netlink/link.js';
import { drivers } from '../tunnel/index.js';
import { engineSpecOf } from '../tunnel/userspace.js';
import { describeStep, planEndpoint, type Step } from './plan.js';
import { addLink, emptyView, type NsView } from './snapshot.js';
import { resolveEndpoint, type EndpointSpec, type ResolvedEndpoint } from './spec.js';

const base: EndpointSpec = {
  slice: 's1', link: 'l1', group: 1001, kind: 'etherip', key: 0, local: '198.18.0.1', remotes: ['198.18.0.2'],
  netns: 'exp', ifname: 'eth1', addresses: ['192.0.2.0/31'],
};

/** Resolved as NodeKernel does when the probe says userspace. */
function userspace(s: EndpointSpec): ResolvedEndpoint {
  const r = resolveEndpoint(s);
  return { ...r, tunnels: r.tunnels.map((t) => ({ ...t, dataplane: 'userspace' as const, underlayMtu: 1500 })) };
}

const engineState = (r: ResolvedEndpoint, i = 0): EngineTunnelState => {
  const e = engineSpecOf(r.tunnels[i]!);
  return {
    name: e.name, kind: e.kind, local: e.local, remote: e.remote, key: e.key ?? null, mac: e.mac ?? null, underlayMtu: 1500, mtu: r.mtu,
    txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, txDropOversize: 0, txDropError: 0, rxDropError: 0,
  };
};

/** What a correct apply leaves: the engine's TAPs (kind tun) and the veth, joined by redirect or on a bridge; the engine's list. */
function built(r: ResolvedEndpoint): { node: NsView; exp: NsView } {
  const mark = { alias: `visp:${r.spec.slice}/${r.spec.link}`, group: r.mark.group };
  const up = { flags: IFF.UP, up: true, mtu: r.mtu, ...mark };
  const node = emptyView(), exp = emptyView();
  if (r.layer === 3) {
    addLink(exp, { index: 5, name: r.spec.ifname, kind: 'tun', ...up });
    exp.addrs.set(5, r.addresses);
  } else {
    const bridged = r.join === 'bridge';
    if (bridged) addLink(node, { index: 10, name: r.bridge, kind: 'bridge', ...up });
    r.tunnels.forEach((t, i) => addLink(node, {
      index: 11 + i, name: t.name, kind: 'tun', ...up,
      ...(bridged ? { master: 10, slaveKind: 'bridge', slaveData: Buffer.concat(encodePortFlags({ isolated: r.isolate, learning: true })) } : {}),
    }));
    addLink(node, { index: 20, name: r.vethHost, kind: 'veth', ...(bridged ? { master: 10 } : {}), link: 5, ...up });
    node.ingress = new Map(bridged ? [] : [[11, joinedRules(20)], [20, joinedRules(11)]]);
    addLink(exp, { index: 5, name: r.spec.ifname, kind: 'veth', link: 20, ...up });
    exp.addrs.set(5, r.addresses);
  }
  r.tunnels.forEach((_t, i) => node.engine.set(r.tunnels[i]!.name, engineState(r, i)));
  return { node, exp };
}

const ops = (steps: Step[]): string[] => steps.map((s) => s.op + ('name' in s ? ` ${s.name}` : ''));

describe('planEndpoint with userspace tunnels', () => {
  it.each<[string, EndpointSpec]>([
    ['etherip', base],
    ['gretap', { ...base, kind: 'gretap', key: 4711 }],
    ['ip6gretap', { ...base, kind: 'ip6gretap', key: 7, local: '2001:db8:ff::1', remotes: ['2001:db8:ff::2'] }],
    ['etherip LAN (isolated TAP ports)', { ...base, remotes: ['198.18.0.2', '198.18.0.3'] }],
    ['gre (layer 3: a TUN in the experiment)', { ...base, kind: 'gre', key: 5 }],
  ])('%s: fresh node → created through the engine; built node → nothing', (_n, s) => {
    const r = userspace(s);
    const fresh = planEndpoint(r, emptyView(), emptyView());
    expect(fresh.filter((x) => x.op === 'create-tunnel' || x.op === 'create-l3-tunnel').map((x) => describeStep(x, r)))
      .toEqual(r.tunnels.map(() => expect.stringMatching(new RegExp(`create userspace ${s.kind} vt`))));
    const { node, exp } = built(r);
    expect(planEndpoint(r, node, exp)).toEqual([]);
  });

  it('the device is gone (deleted by hand) while the engine still has the tunnel: del in the engine, then add', () => {
    const r = userspace(base);
    const { node, exp } = built(r);
    node.byName.delete(r.tunnels[0]!.name);
    const steps = planEndpoint(r, node, exp);
    // The new TAP is joined to the veth, and the veth to it (its redirect named the old TAP).
    expect(ops(steps)).toEqual([`delete-engine-tunnel ${r.tunnels[0]!.name}`, 'create-tunnel', 'join', 'join']);
    expect(describeStep(steps[0]!, r)).toMatch(/its device is gone/);
  });

  it('the engine has other settings (a key): del and add, saying what differs', () => {
    const r = userspace({ ...base, kind: 'gretap', key: 4712 });
    const { node, exp } = built(r);
    node.engine.set(r.tunnels[0]!.name, { ...engineState(r), key: 4711 });
    const steps = planEndpoint(r, node, exp);
    expect(ops(steps)).toEqual([`delete-engine-tunnel ${r.tunnels[0]!.name}`, 'create-tunnel', 'join', 'join']);
    expect(describeStep(steps[0]!, r)).toMatch(/key 4711 → 4712/);
  });

  it('the engine lost the tunnel (restarted): created again, joined to the existing veth (or on the existing bridge)', () => {
    const r = userspace(base);
    const { node, exp } = built(r);
    node.engine.clear();
    node.byName.delete(r.tunnels[0]!.name);
    expect(ops(planEndpoint(r, node, exp))).toEqual(['create-tunnel', 'join', 'join']);
    const lan = userspace({ ...base, remotes: ['198.18.0.2', '198.18.0.3'] });
    const b = built(lan);
    b.node.engine.clear();
    b.node.byName.delete(lan.tunnels[0]!.name);
    // (The other TAP, still a device but unknown to the restarted engine, is replaced too.)
    const [t0, t1] = lan.tunnels.map((t) => t.name);
    expect(ops(planEndpoint(lan, b.node, b.exp))).toEqual(['create-tunnel', `set-port ${t0}`, `delete-link ${t1}`, 'create-tunnel', `set-port ${t1}`]);
  });

  it('an unmarked engine device (a create interrupted before its mark) is adopted and marked, not refused', () => {
    const r = userspace(base);
    const { node, exp } = built(r);
    const t = node.byName.get(r.tunnels[0]!.name)!;
    node.byName.set(t.name, { ...t, alias: undefined, group: 0 });
    expect(ops(planEndpoint(r, node, exp))).toEqual([`set-link ${t.name}`]);
  });

  it('a kernel device of the name where a userspace tunnel belongs is deleted first', () => {
    const r = userspace({ ...base, kind: 'gretap', key: 9 });
    const { node, exp } = built(r);
    node.engine.clear();
    const t = node.byName.get(r.tunnels[0]!.name)!;
    node.byName.set(t.name, { ...t, kind: 'gretap', infoData: Buffer.concat(drivers.gretap.encode(r.tunnels[0]!)) });
    expect(ops(planEndpoint(r, node, exp)).slice(0, 2)).toEqual([`delete-link ${t.name}`, 'create-tunnel']);
  });

  it('a kernel tunnel wanted where the engine has one: the engine lets go of it first', () => {
    const u = userspace({ ...base, kind: 'gretap', key: 9 });
    const { node, exp } = built(u);
    const r = resolveEndpoint({ ...base, kind: 'gretap', key: 9 });
    expect(ops(planEndpoint(r, node, exp)).slice(0, 2)).toEqual([`delete-engine-tunnel ${r.tunnels[0]!.name}`, 'create-tunnel']);
  });

  it('a LAN member leaving: its engine TAP is deleted through the engine', () => {
    const lan = userspace({ ...base, remotes: ['198.18.0.2', '198.18.0.3'] });
    const { node, exp } = built(lan);
    const r = userspace({ ...base, remotes: ['198.18.0.2'], lan: true });
    const gone = lan.tunnels.find((t) => t.remote === '198.18.0.3')!.name;
    expect(ops(planEndpoint(r, node, exp))).toEqual([`delete-engine-tunnel ${gone}`]);
  });

  it('layer 3: the moved TUN deleted in the experiment namespace → del in the engine, create again as eth1', () => {
    const r = userspace({ ...base, kind: 'gre', key: 5 });
    const { node, exp } = built(r);
    exp.byName.delete('eth1');
    const steps = planEndpoint(r, node, exp);
    expect(ops(steps)).toEqual([`delete-engine-tunnel ${r.tunnels[0]!.name}`, 'create-l3-tunnel', 'add-addr']);
    expect(describeStep(steps[1]!, r)).toMatch(/create userspace gre .* as eth1/);
  });
});
