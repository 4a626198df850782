// A VXLAN link between two experiment namespaces on two "nodes" joined by a
// veth underlay, built through NodeKernel.reconcile as the agent does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeKernel } from '../../src/endpoint/node.js';
import type { EndpointSpec } from '../../src/endpoint/spec.js';
import { ipIn, ipLink, ipLinks, kernelSkipReason, makeNetns, sh, underlayPair } from '../helpers/netns.js';
import { kernels, ok, ping, vispLinks } from '../helpers/nodes.js';

describe.skipIf(kernelSkipReason)('VXLAN link endpoint on the real kernel', () => {
  let u: ReturnType<typeof underlayPair>;
  let A: NodeKernel, B: NodeKernel;
  let xa: string, xb: string;
  beforeAll(() => {
    u = underlayPair('vx');
    xa = makeNetns('vxea');
    xb = makeNetns('vxeb');
    [A, B] = kernels(u.a, u.b);
  });
  afterAll(() => { A?.close(); B?.close(); });

  const pair = (link: string, key: number, v6underlay: boolean, octet: number): [EndpointSpec, EndpointSpec] => {
    const common = { slice: 'sx', link, group: 7001, kind: 'vxlan' as const, key, ifname: `eth${octet}` };
    const [la, lb] = v6underlay ? [u.a6, u.b6] : [u.a4, u.b4];
    return [
      { ...common, local: la, remotes: [lb], netns: xa, addresses: [`192.0.2.${octet * 2}/31`, `2001:db8:${octet}::/127`] },
      { ...common, local: lb, remotes: [la], netns: xb, addresses: [`192.0.2.${octet * 2 + 1}/31`, `2001:db8:${octet}::1/127`] },
    ];
  };

  it.each([['IPv4', false, 1], ['IPv6', true, 2]] as const)('over an %s underlay: pings across, IPv4 and IPv6', async (_f, v6, octet) => {
    const [sa, sb] = pair(`l${octet}`, 4700 + octet, v6, octet);
    ok(await A.reconcile([sa]));
    ok(await B.reconcile([sb]));
    expect(ping(xa, `192.0.2.${octet * 2 + 1}`)).toBe(true);
    expect(ping(xa, `2001:db8:${octet}::1`)).toBe(true);
    expect(ping(xb, `192.0.2.${octet * 2}`)).toBe(true);
    // What iproute2 (an independent decoder) sees.
    const eth = ipLink(xa, `eth${octet}`);
    expect(eth).toMatchObject({ ifalias: `visp:sx/l${octet}`, mtu: v6 ? 1430 : 1450, group: '7001', operstate: 'UP' });
    const vx = ipLinks(u.a).find((l) => l.linkinfo?.info_kind === 'vxlan' && l.linkinfo.info_data.id === 4700 + octet)!;
    expect(vx.linkinfo.info_data).toMatchObject({ port: 4789, learning: false, ttl: 64, ...(v6 ? { local6: u.a6, remote6: u.b6 } : { local: u.a4, remote: u.b4 }) });
    // No link bridge: the tunnel and the veth's host end redirect to each other (tc as iproute2 reads it back).
    // The VXLAN is a port of the node's anchor (down, carries nothing), so it answers path MTU (src/bridge/anchor.ts).
    expect(vx.master).toBe('visp-pmtu');
    expect(ipLink(u.a, 'visp-pmtu')).toMatchObject({ operstate: 'DOWN', linkinfo: { info_kind: 'bridge' } });
    const host = ipLinks(u.a).find((l) => l.ifalias === `visp:sx/l${octet}` && l.link_type === 'ether' && l.linkinfo?.info_kind === 'veth')!;
    expect(host.master).toBeUndefined();
    for (const [from, to] of [[vx.ifname, host.ifname], [host.ifname, vx.ifname]]) {
      const f = JSON.parse(sh('tc', ['-n', u.a, '-j', 'filter', 'show', 'dev', from, 'ingress'])) as Array<Record<string, any>>;
      const redirect = f.find((x) => x.pref === 2 && x.options?.actions)!;
      expect(redirect.options.actions[0]).toMatchObject({ kind: 'mirred', mirred_action: 'redirect', direction: 'egress', to_dev: to });
      // The probe filter: ethertype 0x88B5 (34997, as iproute2 prints an ethertype it has no name for), final (a flowid), no action.
      const probes = f.find((x) => x.pref === 1 && x.options?.match)!;
      expect(probes).toMatchObject({ protocol: '[34997]', options: { flowid: '1:1' } });
      expect(probes.options.actions).toBeUndefined();
    }
  });

  it('re-applying the same spec writes nothing', async () => {
    const [sa] = pair('l1', 4701, false, 1);
    const before = A.messagesSent;
    const r = ok(await A.reconcile([sa]));
    expect(r[0]!.steps).toEqual([]);
    // Only the snapshot's dumps went out (the view is read again after the last test's changes): node links,
    // qdiscs and the ingress filters of each joined device (2 endpoints here, 2 devices each), experiment links, addresses.
    expect(A.messagesSent - before).toBe(3 + 1 + 4);
  });

  it('repairs drift: an experiment interface deleted by hand comes back, and says so', async () => {
    const [sa] = pair('l1', 4701, false, 1);
    ipIn(xa, 'link', 'del', 'eth1');
    const r = ok(await A.reconcile([sa]));
    expect(r[0]!.steps.join('\n')).toMatch(/create veth .* ↔ .*:eth1/);
    expect(ping(xa, '192.0.2.3')).toBe(true);
  });

  it('recreates a tunnel whose settings differ, naming the difference', async () => {
    const [sa, sb] = pair('l1', 4799, false, 1);
    const r = ok(await A.reconcile([sa]));
    expect(r[0]!.steps.join('\n')).toMatch(/key 4701 → 4799/);
    ok(await B.reconcile([sb]));
    expect(ping(xa, '192.0.2.3')).toBe(true);
  });

  it('never touches an interface it does not own', async () => {
    ipIn(xa, 'link', 'add', 'eth9', 'type', 'veth', 'peer', 'name', 'other9');
    const [sa] = pair('l9', 4709, false, 9);
    const r = await A.reconcile([sa]);
    expect(r[0]!.error?.message).toMatch(/eth9 exists and is not owned by visp:sx\/l9/);
    expect(ipLinks(xa).map((l) => l.ifname)).toEqual(expect.arrayContaining(['eth9', 'other9']));
    // Nothing half-built on the node either: planning failed before any write.
    expect((await A.owned()).filter((o) => o.link === 'l9')).toEqual([]);
    ipIn(xa, 'link', 'del', 'eth9');
  });

  it('a restarted agent adopts what it built: a fresh NodeKernel plans nothing', async () => {
    const [sa] = pair('l2', 4702, true, 2);
    A.close();
    [A] = kernels(u.a);
    const r = ok(await A.reconcile([sa]));
    expect(r[0]!.steps).toEqual([]);
    const owned = await A.owned([xa]);
    expect(owned.filter((o) => o.link === 'l2').map((o) => o.kind).sort()).toEqual(['veth', 'veth', 'vxlan']);
  });

  it('deleting an endpoint removes exactly its objects; deleting the slice removes the rest', async () => {
    const [sa] = pair('l1', 4799, false, 1);
    const removed = await A.deleteEndpoint(sa);
    expect(removed).toHaveLength(2); // tunnel, veth host end (the peer goes with it; the redirects with both)
    expect(ipLinks(xa).map((l) => l.ifname)).not.toContain('eth1');
    expect(ipLinks(xa).map((l) => l.ifname)).toContain('eth2');
    await A.deleteSlice(7001, [xa]);
    await B.deleteSlice(7001, [xb]);
    for (const ns of [u.a, u.b, xa, xb]) expect(vispLinks(ns)).toEqual([]);
    // The nodes' anchors went with their last ports: nothing of visp's is left on a node without links.
    for (const ns of [u.a, u.b]) expect(ipLinks(ns).map((l) => l.ifname)).not.toContain('visp-pmtu');
    for (const ns of [xa, xb]) expect(ipLinks(ns).map((l) => l.ifname)).toEqual(['lo']);
  });
});
