// A 3-member LAN over VXLAN: one VNI, head-end replication (one all-zero
// FDB entry per other member), every member reaches every other.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeKernel } from '../../src/endpoint/node.js';
import type { EndpointSpec } from '../../src/endpoint/spec.js';
import { kernelSkipReason, makeNetns, sh, threeNodes } from '../helpers/netns.js';
import { kernels, ok, ping, vispLinks } from '../helpers/nodes.js';

describe.skipIf(kernelSkipReason)('3-member LAN over VXLAN', () => {
  let nodes: string[], exps: string[], K: NodeKernel[];
  beforeAll(() => {
    // Three nodes on one underlay bridge: 198.18.1.1–3 and 2001:db8:fe::1–3.
    nodes = threeNodes('lan', 1, '2001:db8:fe::');
    exps = [1, 2, 3].map((i) => makeNetns(`lanx${i}`));
    K = kernels(...nodes);
  });
  afterAll(() => K?.forEach((k) => k.close()));

  const member = (i: number, v6: boolean): EndpointSpec => {
    const ul = (j: number): string => (v6 ? `2001:db8:fe::${j}` : `198.18.1.${j}`);
    return {
      slice: 'slan', link: v6 ? 'lan6' : 'lan4', group: 7100, kind: 'vxlan', key: v6 ? 6001 : 4001,
      local: ul(i), lan: true, remotes: [1, 2, 3].filter((j) => j !== i).map(ul),
      netns: exps[i - 1]!, ifname: v6 ? 'eth2' : 'eth1',
      addresses: v6 ? [`2001:db8:40::${i}/64`] : [`198.51.100.${i}/24`],
    };
  };

  it.each([['IPv4', false], ['IPv6', true]] as const)('over an %s underlay every member pings every other', async (_f, v6) => {
    for (let i = 1; i <= 3; i++) ok(await K[i - 1]!.reconcile([member(i, v6)]));
    for (let i = 1; i <= 3; i++) {
      for (let j = 1; j <= 3; j++) {
        if (i === j) continue;
        expect(ping(exps[i - 1]!, v6 ? `2001:db8:40::${j}` : `198.51.100.${j}`), `${i} → ${j}`).toBe(true);
      }
    }
    // Head-end replication: one flood entry per other member, learning off.
    const dev = (await K[0]!.owned()).find((o) => o.kind === 'vxlan' && o.link === (v6 ? 'lan6' : 'lan4'))!.name;
    const fdb = sh('bridge', ['-n', nodes[0]!, '-j', 'fdb', 'show', 'dev', dev]);
    const flood = (JSON.parse(fdb) as Array<{ mac: string; dst?: string }>).filter((e) => e.mac === '00:00:00:00:00:00').map((e) => e.dst).sort();
    expect(flood).toEqual(v6 ? ['2001:db8:fe::2', '2001:db8:fe::3'] : ['198.18.1.2', '198.18.1.3']);
  });

  it('a member leaving: its flood entry goes, the others keep talking', async () => {
    const shrunk = { ...member(1, false), remotes: ['198.18.1.2'] };
    const r = ok(await K[0]!.reconcile([shrunk, member(1, true)]));
    expect(r[0]!.steps).toEqual([expect.stringMatching(/remove flood → 198\.18\.1\.3/)]);
    expect(r[1]!.steps).toEqual([]);
    expect(ping(exps[0]!, '198.51.100.2')).toBe(true);
  });

  it('slice teardown leaves nothing on any node', async () => {
    for (let i = 0; i < 3; i++) await K[i]!.deleteSlice(7100, [exps[i]!]);
    for (const ns of [...nodes, ...exps]) expect(vispLinks(ns)).toEqual([]);
  });
});
