// A request decoded with its bulk deferred, then the bulk decoded in paced
// stretches, equals the request grpc-js would have decoded whole; broken
// bytes are refused, never half-read.
import type { MessageTypeDefinition } from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { Pacer } from '../ipam/pacer.js';
import { decodeItems, deferItems, deferredCount } from './bulk-decode.js';
import { visp } from './proto.js';

const { def } = visp();
const T = def['visp.v1.AllocateRequest'] as MessageTypeDefinition<object, Record<string, unknown>>;
const link = (i: number): object => ({ id: `l${i}`, members: [{ node: `r${i}` }, { node: `r${i + 1}`, ipv4: '192.0.2.1/30' }], encapsulation: 'ENCAPSULATION_VXLAN', ipv6: { enabled: true, prefixLength: 127 }, mtu: 1400 + (i % 50) });
const defer = deferItems(def, 'visp.v1.AllocateRequest', ['topology', 'links']);

async function roundTrip(req: object): Promise<{ whole: Record<string, unknown>; deferred: Record<string, unknown>; count: number | undefined }> {
  const bytes = T.serialize(req);
  const whole = T.deserialize(bytes);
  const d = defer(bytes) as Record<string, unknown>;
  const count = deferredCount(d);
  const links = await decodeItems(def, 'visp.v1.TopologyLink', d, 'topology.links', (x) => x, new Pacer(undefined, 0));
  const deferred = d.topology ? { ...d, topology: { ...(d.topology as object), links } } : d;
  return { whole, deferred, count };
}

describe('deferred items', () => {
  for (const n of [0, 1, 2, 300]) {
    it(`a topology of ${n} links: the same request, its links counted before they are decoded`, async () => {
      const r = await roundTrip({ slice: 's', endTime: '2030-01-01T00:00:00Z', topology: { nodes: [{ id: 'r0', node: 'n0', netns: 'x' }, { id: 'r1', node: 'n1' }], links: Array.from({ length: n }, (_, i) => link(i)) } });
      expect(r.count).toBe(n);
      expect(r.deferred).toEqual(r.whole);
    });
  }

  it('no topology at all, and an empty one', async () => {
    const none = await roundTrip({ slice: 's' });
    expect(none.deferred).toEqual(none.whole);
    expect(none.whole.topology).toBeNull();
    const empty = await roundTrip({ slice: 's', topology: {} });
    expect(empty.deferred).toEqual(empty.whole);
    expect(empty.count).toBe(0);
  });

  it('the topology field sent twice: read as the whole decode reads it (protobufjs keeps the last)', async () => {
    const a = T.serialize({ slice: 's', topology: { nodes: [{ id: 'r0', node: 'n0' }], links: [link(0)] } });
    const b = T.serialize({ topology: { links: [link(1), link(2)] } });
    const bytes = Buffer.concat([a, b]);
    const d = defer(bytes) as Record<string, unknown>;
    const links = await decodeItems(def, 'visp.v1.TopologyLink', d, 'topology.links', (x) => x, new Pacer());
    expect({ ...d, topology: { ...(d.topology as object), links } }).toEqual(T.deserialize(bytes));
    expect(links.map((l) => (l as { id: string }).id)).toEqual(['l1', 'l2']);
  });

  it('truncated bytes are refused by the deserializer (the API answers INVALID_ARGUMENT)', () => {
    const bytes = T.serialize({ slice: 's', topology: { links: [link(0), link(1)] } });
    for (const cut of [1, 5, bytes.length - 3]) expect(() => defer(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow();
  });

  it('an item that is not a TopologyLink is refused naming its index', async () => {
    // topology.links[0] holds a field of wire type 7, which does not exist.
    const topo = Buffer.from([0x12, 0x02, 0x7f, 0x00]); // field 15, wire type 7
    const bytes = Buffer.concat([Buffer.from([0x12, topo.length]), topo]);
    const d = defer(bytes);
    expect(deferredCount(d)).toBe(1);
    await expect(decodeItems(def, 'visp.v1.TopologyLink', d, 'topology.links', (x) => x, new Pacer())).rejects.toThrow(/^topology\.links\[0\]: cannot be decoded/);
  });
});
