// The kernel GRE family through visp's own drivers, in the VM lane (this
// host's kernel has no ip_gre). Point-to-point links of every GRE kind with
// pings across, read back by iproute2 and by our decoders, re-applied with no
// writes, and a 3-member gretap LAN whose tunnel ports are isolated (split
// horizon): a broadcast reaches each member exactly once, no storm.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeKernel } from '../../src/endpoint/node.js';
import type { EndpointSpec } from '../../src/endpoint/spec.js';
import { capabilities } from '../../src/endpoint/node.js';
import type { TunnelKind } from '../../src/tunnel/types.js';
import { ipIn, ipLink, ipLinks, makeNetns, threeNodes, underlayPair } from '../helpers/netns.js';
import { broadcastEchoes, greKeyOf as keyOf, kernels, ok, ping, vispLinks } from '../helpers/nodes.js';

describe('GRE family on a stock Debian kernel', () => {
  it('the capability probe finds every kernel GRE kind here (kernel data plane), and etherip only in userspace', async () => {
    const caps = await capabilities();
    for (const k of ['gre', 'gretap', 'ip6gre', 'ip6gretap', 'vxlan'] as const) expect(caps[k], k).toEqual({ kind: k, supported: true, dataplane: 'kernel' });
    // Linux has no EtherIP: visp-engine (built on the host, shared read-only) carries it, or nothing does.
    if (caps.etherip.supported) expect(caps.etherip.dataplane).toBe('userspace');
    else expect(caps.etherip.reason).toMatch(/not available on this node/);
  });

  describe('point-to-point links', () => {
    let u: ReturnType<typeof underlayPair>;
    let A: NodeKernel, B: NodeKernel;
    let xa: string, xb: string;
    beforeAll(() => { u = underlayPair('gre'); xa = makeNetns('grea'); xb = makeNetns('greb'); [A, B] = kernels(u.a, u.b); });
    afterAll(async () => {
      await A?.deleteSlice(8001, [xa]);
      await B?.deleteSlice(8001, [xb]);
      for (const ns of [u.a, u.b, xa, xb]) expect(vispLinks(ns)).toEqual([]);
      A?.close(); B?.close();
    });

    const cases: Array<[TunnelKind, number, boolean]> = [['gretap', 1, false], ['gre', 2, false], ['ip6gretap', 3, true], ['ip6gre', 4, true]];
    it.each(cases)('%s: built, read back, pinged across (IPv4 and IPv6 inside), re-applied with no writes', async (kind, n, v6) => {
      const [la, lb] = v6 ? [u.a6, u.b6] : [u.a4, u.b4];
      const common = { slice: 'sgre', link: `l${n}`, group: 8001, kind, key: 1000 + n, ifname: `eth${n}` };
      const sa: EndpointSpec = { ...common, local: la, remotes: [lb], netns: xa, addresses: [`192.0.2.${n * 2}/31`, `2001:db8:${n}::/127`] };
      const sb: EndpointSpec = { ...common, local: lb, remotes: [la], netns: xb, addresses: [`192.0.2.${n * 2 + 1}/31`, `2001:db8:${n}::1/127`] };
      ok(await A.reconcile([sa]));
      ok(await B.reconcile([sb]));
      expect(ping(xa, `192.0.2.${n * 2 + 1}`)).toBe(true);
      expect(ping(xb, `2001:db8:${n}::`)).toBe(true);

      // The tunnel device, as iproute2 sees it: in the experiment namespace for layer 3, on the node otherwise.
      const layer3 = kind === 'gre' || kind === 'ip6gre';
      // (Loading ip_gre adds fallback devices gretap0/gre0 to every namespace: match ours by alias.)
      const dev = layer3 ? ipLink(xa, `eth${n}`) : ipLinks(u.a).find((l) => l.linkinfo?.info_kind === kind && l.ifalias === `visp:sgre/l${n}`)!;
      expect(dev.linkinfo.info_kind).toBe(kind);
      expect(keyOf(dev.linkinfo.info_data.ikey)).toBe(1000 + n);
      expect(keyOf(dev.linkinfo.info_data.okey)).toBe(1000 + n);
      expect(dev.linkinfo.info_data).toMatchObject({ local: la, remote: lb, ttl: 64 });
      expect(dev.ifalias).toBe(`visp:sgre/l${n}`);
      const mtu = { gretap: 1458, gre: 1472, ip6gretap: 1438, ip6gre: 1452 }[kind as 'gre'];
      expect(ipLink(xa, `eth${n}`).mtu).toBe(mtu);

      const before = A.messagesSent;
      const again = ok(await A.reconcile([sa]));
      expect(again[0]!.steps).toEqual([]);
      // The snapshot's dumps only: links, experiment links, addresses; for a layer-2 kind also the qdiscs and each
      // joined device's ingress filters (2 per layer-2 endpoint on A so far: docs/kernel.md).
      const joined = cases.filter(([k, m]) => m <= n && (k === 'gretap' || k === 'ip6gretap')).length;
      expect(A.messagesSent - before).toBe(kind === 'gre' || kind === 'ip6gre' ? 3 : 3 + 1 + 2 * joined);
    });

    it('layer-3 gre deleted by hand in the experiment namespace is rebuilt', async () => {
      ipIn(xa, 'link', 'del', 'eth2');
      const sa: EndpointSpec = { slice: 'sgre', link: 'l2', group: 8001, kind: 'gre', key: 1002, ifname: 'eth2', local: u.a4, remotes: [u.b4], netns: xa, addresses: ['192.0.2.4/31', '2001:db8:2::/127'] };
      const r = ok(await A.reconcile([sa]));
      expect(r[0]!.steps.join('\n')).toMatch(/create gre .* as eth2/);
      expect(ping(xa, '192.0.2.5')).toBe(true);
    });
  });

  describe('3-member LAN over gretap with split horizon', () => {
    let nodes: string[], exps: string[], K: NodeKernel[];
    beforeAll(() => {
      nodes = threeNodes('gl', 2);
      exps = [1, 2, 3].map((i) => makeNetns(`glx${i}`));
      K = kernels(...nodes);
    });
    afterAll(async () => {
      for (let i = 0; i < 3; i++) await K?.[i]?.deleteSlice(8100, [exps[i]!]);
      for (const ns of [...(nodes ?? []), ...(exps ?? [])]) expect(vispLinks(ns)).toEqual([]);
      K?.forEach((k) => k.close());
    });

    it('every member reaches every other; a broadcast arrives once per member', async () => {
      for (let i = 1; i <= 3; i++) {
        ok(await K[i - 1]!.reconcile([{
          slice: 'sglan', link: 'lan', group: 8100, kind: 'gretap', key: 555, lan: true,
          local: `198.18.2.${i}`, remotes: [1, 2, 3].filter((j) => j !== i).map((j) => `198.18.2.${j}`),
          netns: exps[i - 1]!, ifname: 'eth1', addresses: [`203.0.113.${i}/24`],
        }]));
      }
      // Tunnel ports are isolated on every node's bridge.
      for (const n of nodes) {
        const ports = ipLinks(n).filter((l) => l.linkinfo?.info_kind === 'gretap' && l.ifalias === 'visp:sglan/lan');
        expect(ports).toHaveLength(2);
        for (const p of ports) expect(p.linkinfo.info_slave_data).toMatchObject({ isolated: true });
      }
      for (let i = 1; i <= 3; i++) {
        for (let j = 1; j <= 3; j++) if (i !== j) expect(ping(exps[i - 1]!, `203.0.113.${j}`), `${i} → ${j}`).toBe(true);
      }
      // 20 broadcast echo requests from member 1: each other member must see
      // each exactly once. Without split horizon the frames would loop
      // between the three bridges forever.
      expect(await broadcastEchoes(exps[0]!, '203.0.113.255', [exps[1]!, exps[2]!], 20)).toEqual([20, 20]);
    });
  });
});
