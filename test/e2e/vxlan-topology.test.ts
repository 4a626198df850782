// End to end, through the gRPC API only, as an aggregate manager would: a
// 4-node topology (a ring of VXLAN point-to-point links plus a 3-member VXLAN
// LAN, dual-stack) is allocated, provisioned and becomes READY; every
// experiment namespace pings every neighbour over IPv4 and IPv6; Describe's
// manifest names every interface, address, key and device, and the kernels
// agree; ListTunnels shows every endpoint READY with counters that grow
// with traffic; Delete leaves nothing behind.
import { isIP } from 'node:net';
import { ANCHOR } from '../../src/bridge/anchor.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipIn, kernelSkipReason } from '../helpers/netns.js';
import { baseline, Lab, lan, links, p2p, pingAsync, pingNeighbours, stripLen, tornDown, waitFor, within, type Manifest, type NsSnapshot } from './support.js';

describe.skipIf(kernelSkipReason)('e2e: 4-node VXLAN topology with a LAN, through the API', () => {
  const lab = new Lab('vx', ['n1', 'n2', 'n3', 'n4']);
  let slice: string;
  let before: Map<string, NsSnapshot>;
  let m: Manifest;

  beforeAll(async () => {
    await lab.start();
    before = baseline(lab);
    slice = lab.slice('ring');
  });
  afterAll(async () => { await lab.close(); });

  const topology = {
    nodes: [1, 2, 3, 4].map((i) => ({ id: `r${i}`, node: `n${i}` })),
    links: [p2p('r1r2', 'r1', 'r2'), p2p('r2r3', 'r2', 'r3'), p2p('r3r4', 'r3', 'r4'), p2p('r4r1', 'r4', 'r1'), lan('lan', ['r1', 'r2', 'r3'])],
  };

  it('GetVersion and ListResources show the API, the nodes, their underlay and VXLAN', async () => {
    const v = await lab.api.links.getVersion({});
    expect(v).toMatchObject({ api: 'visp.v1', geniApi: 3 });
    expect(v.encapsulations).toContain('ENCAPSULATION_VXLAN');
    const { nodes } = await lab.api.links.listResources({});
    expect(nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3', 'n4']);
    for (const n of nodes) {
      expect(n.connected).toBe(true);
      expect(n.underlayAddresses).toEqual([lab.node(n.name).v4, lab.node(n.name).v6]);
      expect(n.encapsulations).toContain('ENCAPSULATION_VXLAN');
      // No ip_gre in this host's kernel: GRE and EtherIP are offered through visp-engine (userspace).
      expect(n.encapsulations).toEqual(expect.arrayContaining(['ENCAPSULATION_GRE', 'ENCAPSULATION_ETHERIP']));
    }
  });

  it('Allocate reserves (ALLOCATED, expires), Provision builds, Status reaches READY', async () => {
    const a = (await lab.api.links.allocate({ slice, topology })).manifest!;
    expect(a.allocationState).toBe('ALLOCATION_STATE_ALLOCATED');
    expect(a.expires).not.toBe('');
    expect(a.slivers.map((s) => s.id)).toEqual(['r1r2', 'r2r3', 'r3r4', 'r4r1', 'lan'].map((l) => `${slice}/${l}`));
    // Nothing is built before Provision.
    for (const n of lab.nodes) expect(links(n.ns).filter((l) => String(l.ifalias ?? '').startsWith('visp:'))).toEqual([]);
    const p = (await lab.api.links.provision({ slice })).manifest!;
    expect(p.allocationState).toBe('ALLOCATION_STATE_PROVISIONED');
    expect(p.expires).toBe('');
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY');
    expect(m.slivers.every((s) => s.endpoints.every((e) => e.operationalState === 'OPERATIONAL_STATE_READY' && !e.error))).toBe(true);
  });

  it('every experiment namespace pings every neighbour, IPv4 and IPv6', async () => {
    // 4 p2p links × 2 directions × 2 families + LAN 6 pairs × 2 families
    expect(m.slivers.reduce((n, s) => n + s.endpoints.length * (s.endpoints.length - 1) * 2, 0)).toBe(28);
    expect(await pingNeighbours(m)).toEqual([]);
  });

  it("Describe's manifest names every interface, address, key and device — and the kernels agree", async () => {
    const d = (await lab.api.links.describe({ slice })).manifest!;
    expect(d.slice).toBe(slice);
    expect(d.groupId).toBeGreaterThan(0);
    // One IPv4 and one IPv6 block (local class, the default), from the lab pools.
    expect(d.blocks.map((b) => b.addressClass)).toEqual(['ADDRESS_CLASS_LOCAL', 'ADDRESS_CLASS_LOCAL']);
    const v4block = d.blocks.find((b) => isIP(stripLen(b.prefix)) === 4)!.prefix;
    const v6block = d.blocks.find((b) => isIP(stripLen(b.prefix)) === 6)!.prefix;
    expect(within(v4block, '192.0.2.0/24')).toBe(true);
    expect(within(v6block, '2001:db8::/32')).toBe(true);
    const keys = new Set<number>();
    for (const s of d.slivers) {
      expect(s.encapsulation).toBe('ENCAPSULATION_VXLAN');
      expect(s.key).toBeGreaterThan(0);
      keys.add(s.key);
      expect(s.mtu).toBeGreaterThanOrEqual(1280);
      expect(within(s.ipv4Subnet, v4block), `${s.link} ${s.ipv4Subnet} in ${v4block}`).toBe(true);
      expect(within(s.ipv6Subnet, v6block), `${s.link} ${s.ipv6Subnet} in ${v6block}`).toBe(true);
      if (s.link !== 'lan') {
        expect(s.ipv4Subnet).toMatch(/\/31$/);
        expect(s.ipv6Subnet).toMatch(/\/127$/);
      }
      expect(s.endpoints).toHaveLength(s.link === 'lan' ? 3 : 2);
      const all = s.endpoints.flatMap((e) => e.addresses);
      expect(new Set(all.map(stripLen)).size, `${s.link}: addresses are distinct`).toBe(all.length);
      for (const e of s.endpoints) {
        const node = lab.node(e.physicalNode);
        expect(e.netns).toBe(`visp-${slice}:${e.node}`);
        expect(e.ifname).toMatch(/^eth\d$/);
        expect(e.underlayAddress).toBe(node.v4);
        expect(e.remotes.sort()).toEqual(s.endpoints.filter((x) => x !== e).map((x) => lab.node(x.physicalNode).v4).sort());
        expect(e.addresses).toHaveLength(2);
        expect(e.addresses.some((a) => within(a, s.ipv4Subnet))).toBe(true);
        expect(e.addresses.some((a) => within(a, s.ipv6Subnet))).toBe(true);
        // The experiment side: the named interface, up, with exactly these addresses and the link's MTU.
        const [ifc] = JSON.parse(ipIn(e.netns, '-j', 'addr', 'show', 'dev', e.ifname)) as Array<Record<string, any>>;
        expect(ifc!.operstate).toBe('UP');
        expect(ifc!.mtu).toBe(s.mtu);
        const onIf = (ifc!.addr_info as Array<{ local: string; prefixlen: number; scope: string }>).filter((x) => x.scope === 'global').map((x) => `${x.local}/${x.prefixlen}`);
        expect(onIf.sort()).toEqual([...e.addresses].sort());
        // The node side: the tunnel device the manifest names, with the link's VNI, joined to the veth
        // without a bridge (docs/kernel.md: one VXLAN device per endpoint, point-to-point or LAN).
        const nodeLinks = links(node.ns);
        expect(e.bridge, `${s.link}@${e.physicalNode}: no bridge`).toBe('');
        expect(e.tunnels).toHaveLength(1);
        for (const t of e.tunnels) {
          const dev = nodeLinks.find((l) => l.ifname === t);
          expect(dev?.linkinfo?.info_kind, `${s.link}@${e.physicalNode}: tunnel ${t}`).toBe('vxlan');
          expect(dev!.linkinfo.info_data.id).toBe(s.key);
          // Its only master is the node's anchor (down, carries nothing: src/bridge/anchor.ts).
          expect(dev!.master).toBe(ANCHOR);
          expect(dev!.ifalias).toBe(`visp:${s.id}`);
        }
      }
    }
    expect(keys.size, 'each link has its own VNI').toBe(d.slivers.length);
    // Per node: one experiment namespace per router, one interface per link of that router.
    const perRouter = new Map<string, string[]>();
    for (const s of d.slivers) for (const e of s.endpoints) perRouter.set(e.netns, [...(perRouter.get(e.netns) ?? []), e.ifname]);
    for (const [ns, ifs] of perRouter) {
      expect(new Set(ifs).size, `${ns}: distinct interface names`).toBe(ifs.length);
      const inNs = links(ns).filter((l) => l.ifname !== 'lo').map((l) => l.ifname as string).sort();
      expect(inNs, ns).toEqual([...ifs].sort());
    }
  });

  it('ListTunnels shows every endpoint READY, and its counters grow after traffic', async () => {
    const list = async () => (await lab.api.operator.listTunnels({ slice })).tunnels;
    const t0 = await list();
    expect(t0).toHaveLength(2 * 4 + 3);
    for (const t of t0) {
      expect(t.state, `${t.sliver}@${t.node}`).toBe('OPERATIONAL_STATE_READY');
      expect(t).toMatchObject({ slice, encapsulation: 'ENCAPSULATION_VXLAN', dataplane: 'kernel', error: '' });
      expect(t.devices.length).toBe(1);
    }
    // Filters: by node, and by state.
    expect((await lab.api.operator.listTunnels({ slice, node: 'n4' })).tunnels.map((t) => t.link).sort()).toEqual(['r3r4', 'r4r1']);
    expect((await lab.api.operator.listTunnels({ slice, state: 'OPERATIONAL_STATE_FAILED' })).tunnels).toEqual([]);
    const g = (await lab.api.operator.getTunnel({ sliver: `${slice}/lan`, node: 'n2' })).tunnels;
    expect(g).toHaveLength(1);
    expect(g[0]!.remotes.sort()).toEqual([lab.node('n1').v4, lab.node('n3').v4]);

    // Traffic across r1r2 (n1 → n2) and the LAN (n3 → n1): the tunnel counters on n1 grow.
    const r1r2 = m.slivers.find((s) => s.link === 'r1r2')!;
    const ln = m.slivers.find((s) => s.link === 'lan')!;
    const key = (t: { link: string; node: string }): string => `${t.link}@${t.node}`;
    const base = new Map(t0.map((t) => [key(t), t]));
    const jobs = [
      pingAsync(r1r2.endpoints[0]!.netns, stripLen(r1r2.endpoints[1]!.addresses[0]!), 10),
      pingAsync(ln.endpoints[2]!.netns, stripLen(ln.endpoints[0]!.addresses[0]!), 10),
    ];
    expect(await Promise.all(jobs)).toEqual([true, true]);
    const grew = async (k: string): Promise<boolean> => {
      const now = (await list()).find((t) => key(t) === k)!;
      const was = base.get(k)!;
      return now.txPackets >= was.txPackets + 10 && now.rxPackets >= was.rxPackets + 10 && now.txBytes > was.txBytes && now.rxBytes > was.rxBytes;
    };
    // Counters arrive with the agents' next report (every reconcile, ~0.5 s).
    await waitFor('counters of r1r2@n1, r1r2@n2, lan@n1, lan@n3 to grow', async () =>
      (await grew('r1r2@n1')) && (await grew('r1r2@n2')) && (await grew('lan@n1')) && (await grew('lan@n3')), 10_000, 250);
  });

  it('Delete tears everything down: no visp object, namespace, route or FDB entry on any node', async () => {
    const d = (await lab.api.links.delete({ slice })).manifest!;
    expect(d.allocationState).toBe('ALLOCATION_STATE_UNALLOCATED');
    expect(await tornDown(lab, before)).toEqual([]);
    expect((await lab.api.operator.listSlices({})).slices).toEqual([]);
    expect((await lab.api.operator.listTunnels({})).tunnels).toEqual([]);
    await expect(lab.api.links.status({ slice })).rejects.toMatchObject({ code: 5 });
  });
});
