// A reply encoded in paced stretches decodes to exactly what grpc-js's own
// serializer would have sent, for a flat bulk, a nested one, a reply with
// other fields beside the bulk, and lengths that need multi-byte varints.
import type { MessageTypeDefinition } from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { Pacer } from '../ipam/pacer.js';
import { encodePaced, passEncoded, type Encoded } from './encode.js';
import { visp } from './proto.js';

const { def, pkg } = visp();
const type = (name: string): MessageTypeDefinition<object, object> => def[name] as MessageTypeDefinition<object, object>;
const bytesOf = (e: Encoded): Buffer => passEncoded(pkg.visp.v1.Links.service).Status!.responseSerialize(e);

function sliver(i: number): Record<string, unknown> {
  return {
    id: `s/l${i}`, link: `l${i}`, encapsulation: 'ENCAPSULATION_VXLAN', key: 1000 + i, mtu: 1430, ipv6Subnet: `2001:db8::${i.toString(16)}/127`,
    operationalState: i % 3 ? 'OPERATIONAL_STATE_READY' : 'OPERATIONAL_STATE_FAILED', error: i % 3 ? '' : `n${i}: it broke ${'x'.repeat(i % 200)}`,
    endpoints: [0, 1].map((j) => ({ node: `r${i + j}`, physicalNode: `n${j}`, netns: `visp-s:r${i + j}`, ifname: 'eth1', addresses: [`2001:db8::${j}/127`], remotes: ['2001:db8:ffff::9'], tunnels: [`vx${i}`] })),
  };
}
const head = { slice: 's', allocationState: 'ALLOCATION_STATE_PROVISIONED', operationalState: 'OPERATIONAL_STATE_READY', groupId: 7, blocks: [{ prefix: '2001:db8::/56', pool: 'p' }] };

describe('encodePaced', () => {
  for (const n of [0, 1, 3, 400]) {
    it(`a manifest reply with ${n} slivers decodes as grpc-js's own encoding does`, async () => {
      const slivers = Array.from({ length: n }, (_, i) => sliver(i));
      const pace = new Pacer(undefined, 0); // a turn as often as it may: every 16 items
      const e = await encodePaced(def, 'visp.v1.StatusResponse', { manifest: head }, { path: ['manifest', 'slivers'], items: slivers, toPb: (x) => x }, pace);
      const t = type('visp.v1.StatusResponse');
      const expected = t.deserialize(t.serialize({ manifest: { ...head, slivers } }));
      expect(t.deserialize(bytesOf(e))).toEqual(expected);
      if (n === 400) expect(pace.yields).toBeGreaterThan(10);
    });
  }

  it('a flat bulk (ListTunnels) with the items converted on the way', async () => {
    const items = Array.from({ length: 40 }, (_, i) => i);
    const toPb = (i: number): object => ({ sliver: `s/l${i}`, slice: 's', link: `l${i}`, node: 'n0', key: i, devices: [`vx${i}`], rxBytes: i * 1e9 });
    const e = await encodePaced(def, 'visp.v1.ListTunnelsResponse', {}, { path: ['tunnels'], items, toPb });
    const t = type('visp.v1.ListTunnelsResponse');
    expect(t.deserialize(bytesOf(e))).toEqual(t.deserialize(t.serialize({ tunnels: items.map(toPb) })));
  });

  it('fields beside the bulk survive (Plan: manifest and nodes)', async () => {
    const nodes = [{ node: 'n0', steps: ['create vx1'], error: '' }, { node: 'n1', steps: [], error: 'not connected' }];
    const slivers = [sliver(1), sliver(2)];
    const e = await encodePaced(def, 'visp.v1.PlanResponse', { manifest: head, nodes }, { path: ['manifest', 'slivers'], items: slivers, toPb: (x) => x });
    const t = type('visp.v1.PlanResponse');
    expect(t.deserialize(bytesOf(e))).toEqual(t.deserialize(t.serialize({ manifest: { ...head, slivers }, nodes })));
  });

  it('a oneof message (an agent\'s desired state in ConnectResponse)', async () => {
    const endpoints = Array.from({ length: 300 }, (_, i) => ({ slice: 's', link: `l${i}`, group: 7, kind: 'vxlan', local: '2001:db8::1', remotes: ['2001:db8::2'], key: i + 1, netns: `visp-s:r${i}`, ifname: 'eth1', addresses: ['2001:db8:4::/127'], mtu: 1430 }));
    const head = { generation: 1733500000000, teardowns: [{ slice: 'gone', group: 3, namespaces: ['visp-gone:r1'] }] };
    const e = await encodePaced(def, 'visp.v1.ConnectResponse', { desired: head }, { path: ['desired', 'endpoints'], items: endpoints, toPb: (x) => x }, new Pacer(undefined, 0));
    const t = type('visp.v1.ConnectResponse');
    const got = t.deserialize(bytesOf(e));
    expect(got).toEqual(t.deserialize(t.serialize({ desired: { ...head, endpoints } })));
    expect((got as { msg?: string }).msg).toBe('desired');
  });

  it('refuses a path that is not a repeated message field', async () => {
    await expect(encodePaced(def, 'visp.v1.StatusResponse', {}, { path: ['manifest'], items: [], toPb: (x) => x })).rejects.toThrow(/not a repeated field/);
    await expect(encodePaced(def, 'visp.v1.StatusResponse', {}, { path: ['nope'], items: [], toPb: (x) => x })).rejects.toThrow(/has no field nope/);
  });

  it('the wrapped serializer still encodes a plain reply object', () => {
    const s = passEncoded(pkg.visp.v1.Links.service).Status!;
    const t = type('visp.v1.StatusResponse');
    expect(t.deserialize(s.responseSerialize({ manifest: head }))).toEqual(t.deserialize(t.serialize({ manifest: head })));
  });
});
