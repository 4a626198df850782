import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Topology } from '../controller/model.js';
import { parseRequestRspec } from '../rspec/request.js';
import { topologyYaml } from './write.js';
import { parseTopology } from './yaml.js';

/** The topology without the RSpec's own names, which a topology file does not hold. */
const plain = (t: Topology): Topology => ({
  nodes: t.nodes.map(({ rspec: _r, ...n }) => n),
  links: t.links.map((l) => ({ ...l, members: l.members.map(({ rspecInterface: _i, ...m }) => m) })),
});

describe('a topology written as a topology file reads back the same', () => {
  for (const f of ['geni-lib.xml', 'jfed.xml']) {
    it(`the topology of ${f}`, () => {
      const t = parseRequestRspec(readFileSync(new URL(`../../test/fixtures/rspec/${f}`, import.meta.url), 'utf8')).topology;
      const text = topologyYaml('s1', t, ['from an RSpec']);
      expect(text.startsWith('# from an RSpec\nname: s1\n')).toBe(true);
      expect(parseTopology(text).topology).toEqual(plain(t));
    });
  }

  it('odd values, IPv6 only, an MTU and a class', () => {
    const t: Topology = {
      nodes: [{ id: 'a', node: 'n1', netns: 'ns-a' }, { id: 'b', node: 'n2' }],
      links: [{ id: 'l', encapsulation: 'vxlan', addressClass: 'private', mtu: 1400, ipv6: { prefixLength: 64 },
        members: [{ node: 'a', ifname: 'e1', properties: { capacity: 1_234_567, latency: 1_500, jitter: 1_001, loss: 0.00123 } }, { node: 'b', ipv6: '2001:db8::2' }] }],
    };
    expect(parseTopology(topologyYaml('s', t)).topology).toEqual(t);
  });
});
