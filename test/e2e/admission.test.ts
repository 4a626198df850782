// Dedicated capacity end to end (docs/links.md): nodes whose agents report a
// 100 Mbit/s underlay (n1, n2) and one that guarantees nothing (n3). A
// guaranteed link reserves its capacity on its nodes, each way; Allocate
// refuses an over-subscribed node with RESOURCE_EXHAUSTED naming the node and
// the figures, and admits again after a Delete; Describe shows what a slice
// reserves, ListResources what is left; a run-time change is admitted the
// same way; a node without a capacity is FAILED_PRECONDITION.
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelSkipReason } from '../helpers/netns.js';
import { Lab, p2p, type Topology } from './support.js';

describe.skipIf(kernelSkipReason)('e2e: admission control for guaranteed capacity', () => {
  const lab = new Lab('ad', ['n1', 'n2', 'n3'], { underlayCapacity: { n1: 100e6, n2: 100e6, n3: 'none' } });
  const topo = (a: string, b: string, extra: Record<string, unknown>): Topology => ({
    nodes: [{ id: 'r1', node: a }, { id: 'r2', node: b }],
    links: [p2p('l', 'r1', 'r2', extra)],
  });
  const left = async (node: string): Promise<{ cap: number; send: number; receive: number }> => {
    const n = (await lab.api.links.listResources({})).nodes.find((x) => x.name === node)!;
    return { cap: n.underlayCapacityBps, send: n.availableSendBps, receive: n.availableReceiveBps };
  };

  beforeAll(async () => { await lab.start(); });
  afterAll(async () => { await lab.close(); });

  it('ListResources: each node\'s underlay capacity as its agent reports it, all of it left; none for n3', async () => {
    expect(await left('n1')).toEqual({ cap: 100e6, send: 100e6, receive: 100e6 });
    expect(await left('n3')).toEqual({ cap: 0, send: 0, receive: 0 });
  });

  it('a guaranteed link reserves each direction on both nodes; Describe shows it; ListResources shows what is left', async () => {
    const m = (await lab.api.links.allocate({ slice: lab.slice('a'), topology: topo('n1', 'n2', {
      guaranteed: true, properties: { capacityBps: 60e6 }, members: [{ node: 'r1' }, { node: 'r2', properties: { capacityBps: 20e6 } }],
    }) })).manifest!;
    expect(m.slivers[0]!.guaranteed).toBe(true);
    expect(m.reservations).toEqual([{ node: 'n1', sendBps: 60e6, receiveBps: 20e6 }, { node: 'n2', sendBps: 20e6, receiveBps: 60e6 }]);
    expect((await lab.api.links.describe({ slice: lab.slice('a') })).manifest!.reservations).toHaveLength(2);
    expect(await left('n1')).toEqual({ cap: 100e6, send: 40e6, receive: 80e6 });
    expect(await left('n2')).toEqual({ cap: 100e6, send: 80e6, receive: 40e6 });
  });

  it('an over-subscribed node is refused with RESOURCE_EXHAUSTED naming the node and the figures; nothing is reserved', async () => {
    const err = await lab.api.links.allocate({ slice: lab.slice('b'), topology: topo('n1', 'n2', { guaranteed: true, properties: { capacityBps: 50e6 } }) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: grpcStatus.RESOURCE_EXHAUSTED });
    expect((err as { details: string }).details).toBe("topology.links[0].guaranteed: node n1's underlay carries 100Mbit sending; guaranteed links already reserve 60Mbit of that, and this slice would add 50Mbit (40Mbit left)");
    await expect(lab.api.links.status({ slice: lab.slice('b') })).rejects.toMatchObject({ code: grpcStatus.NOT_FOUND });
    // Not guaranteed: shaped, but nothing reserved, so admitted.
    await lab.api.links.allocate({ slice: lab.slice('c'), topology: topo('n1', 'n2', { properties: { capacityBps: 50e6 } }) });
    expect(await left('n1')).toEqual({ cap: 100e6, send: 40e6, receive: 80e6 });
  });

  it('after a Delete the capacity is free again and the same request is admitted', async () => {
    await lab.api.links.delete({ slice: lab.slice('a') });
    expect(await left('n1')).toEqual({ cap: 100e6, send: 100e6, receive: 100e6 });
    const m = (await lab.api.links.allocate({ slice: lab.slice('b'), topology: topo('n1', 'n2', { guaranteed: true, properties: { capacityBps: 50e6 } }) })).manifest!;
    expect(m.reservations).toEqual([{ node: 'n1', sendBps: 50e6, receiveBps: 50e6 }, { node: 'n2', sendBps: 50e6, receiveBps: 50e6 }]);
  });

  it('a run-time change of a guaranteed link is admitted the same way', async () => {
    const err = await lab.api.links.setLinkProperties({ slice: lab.slice('b'), link: 'l', properties: { capacityBps: 150e6 } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: grpcStatus.RESOURCE_EXHAUSTED, details: expect.stringMatching(/^properties\.capacity_bps: node n1's underlay carries 100Mbit sending; guaranteed links already reserve none of that, and this slice would add 150Mbit \(100Mbit left\)$/) });
    const m = (await lab.api.links.setLinkProperties({ slice: lab.slice('b'), link: 'l', properties: { capacityBps: 90e6 } })).manifest!;
    expect(m.reservations![0]).toEqual({ node: 'n1', sendBps: 90e6, receiveBps: 90e6 });
    expect(await left('n2')).toEqual({ cap: 100e6, send: 10e6, receive: 10e6 });
    // Without a capacity every way it would reserve nothing and shape nothing: refused.
    await expect(lab.api.links.setLinkProperties({ slice: lab.slice('b'), link: 'l' }))
      .rejects.toMatchObject({ code: grpcStatus.INVALID_ARGUMENT, details: expect.stringMatching(/^guaranteed: a guaranteed link needs a capacity in every direction/) });
  });

  it('a node that guarantees nothing: FAILED_PRECONDITION naming it', async () => {
    const err = await lab.api.links.allocate({ slice: lab.slice('d'), topology: topo('n1', 'n3', { guaranteed: true, properties: { capacityBps: 1e6 } }) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: grpcStatus.FAILED_PRECONDITION, details: expect.stringMatching(/^topology\.links\[0\]\.guaranteed: node n3 offers no guaranteed capacity/) });
  });
});
