import { describe, expect, it } from 'vitest';
import { parseTopology } from '../topology/yaml.js';
import { toApiTopology } from './to-api.js';

describe('toApiTopology', () => {
  it('enum names, Addressing messages, absent fields left out', () => {
    const t = parseTopology(`name: s
nodes: { r1: n1, r2: { node: n2, netns: x } }
links:
  - endpoints: ["r1:eth5", { node: r2, ipv4: 192.0.2.9 }]
    encapsulation: gretap
    class: public
    mtu: 1400
    ipv6: { prefix_length: 64 }
    ipv4: true
  - { id: l2, endpoints: [r1, r2], ipv6: true }
`);
    expect(toApiTopology(t.topology)).toEqual({
      nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2', netns: 'x' }],
      links: [
        {
          id: 'r1-r2', members: [{ node: 'r1', ifname: 'eth5' }, { node: 'r2', ipv4: '192.0.2.9' }],
          encapsulation: 'ENCAPSULATION_GRETAP', addressClass: 'ADDRESS_CLASS_PUBLIC', mtu: 1400,
          ipv4: { enabled: true }, ipv6: { enabled: true, prefixLength: 64 },
        },
        {
          id: 'l2', members: [{ node: 'r1' }, { node: 'r2' }],
          encapsulation: 'ENCAPSULATION_AUTO', addressClass: 'ADDRESS_CLASS_LOCAL', ipv4: null, ipv6: { enabled: true },
        },
      ],
    });
  });
});

describe('toApiTopology: link properties', () => {
  it('the file’s properties, per direction and guaranteed, reach the API as the model has them', async () => {
    const { linkFromPb } = await import('../api/convert.js');
    const t = parseTopology(`name: s
nodes: { r1: n1, r2: n2 }
links:
  - endpoints: [r1, r2]
    capacity: 100Mbit
    latency: 5ms
    guaranteed: true
    from: { r2: { capacity: 10Mbit, loss: 1% } }
`);
    const api = toApiTopology(t.topology);
    expect(api.links![0]).toMatchObject({ properties: { capacityBps: 100e6, latencyUs: 5000 }, guaranteed: true, members: [{ node: 'r1' }, { node: 'r2', properties: { capacityBps: 10e6, loss: 0.01 } }] });
    // …and back: what the controller will read is what the file said.
    const back = linkFromPb(api.links![0], 'topology.links[0]');
    expect({ properties: back.properties, guaranteed: back.guaranteed, members: back.members }).toEqual({ properties: t.topology.links[0]!.properties, guaranteed: true, members: t.topology.links[0]!.members });
  });
});
