import { describe, expect, it } from 'vitest';
import { IncompatibleStateError, InvalidSpecError, NotFoundError } from '../errors.js';
import { expectRefused } from '../../test/helpers/refused.js';
import type { ShaperSupport } from '../shape/probe.js';
import type { NodeRecord, SliceRecord, Topology } from './model.js';
import { placeLinks } from './place.js';
import { withLinkProperties } from './shaping.js';

const NO_NETEM: ShaperSupport[] = [
  { qdisc: 'tbf', supported: true }, { qdisc: 'netem', supported: false, reason: 'kernel module sch_netem missing (ENOENT)' }, { qdisc: 'blackhole', supported: true },
];
const node = (name: string, underlay: string, shapers?: ShaperSupport[]): NodeRecord => ({
  name, underlay: [underlay], lastSeen: 0, capabilities: [{ kind: 'vxlan', supported: true }, { kind: 'gre', supported: true }, { kind: 'gretap', supported: true }],
  ...(shapers ? { shapers } : {}),
});
const nodes = new Map([['n1', node('n1', '198.18.0.1', NO_NETEM)], ['n2', node('n2', '198.18.0.2')]]);
const all = (): boolean => true;
const topo = (extra: Partial<Topology['links'][number]> = {}): Topology => ({
  nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }],
  links: [{ id: 'l', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'auto', addressClass: 'local', ipv4: {}, ...extra }],
});

describe('placement of shaped links', () => {
  it('auto picks a layer-2 kind for a shaped link; each endpoint gets what its member sends', () => {
    const t = topo({ properties: { capacity: 10e6 }, members: [{ node: 'r1' }, { node: 'r2', properties: { capacity: 20e6 } }] });
    const [p] = placeLinks('s', t, nodes, all);
    expect(p!.ways[0]!.kind).toBe('vxlan');
  });

  it('a direction that needs netem on a node without it: FAILED_PRECONDITION naming the field, the node and sch_netem', () => {
    expectRefused(() => placeLinks('s', topo({ properties: { latency: 1000 } }), nodes, all), IncompatibleStateError, 'topology.links[0].properties.latency_us',
      /node n1 cannot enforce it: latency needs the kernel's netem qdisc \(module sch_netem, .*\): kernel module sch_netem missing/);
    // Only r2's own direction needs it, and n2 did not say what it can shape: not refused.
    expect(() => placeLinks('s', topo({ members: [{ node: 'r1' }, { node: 'r2', properties: { loss: 0.1 } }] }), nodes, all)).not.toThrow();
    // r1's own: named as its member's field.
    expectRefused(() => placeLinks('s', topo({ members: [{ node: 'r1', properties: { loss: 0.1 } }, { node: 'r2' }] }), nodes, all), IncompatibleStateError, 'topology.links[0].members[0].properties.loss');
    // A node that is not connected is not judged (its agent refuses the endpoint).
    expect(() => placeLinks('s', topo({ encapsulation: 'vxlan', properties: { latency: 1000 } }), nodes, (n) => n !== 'n1')).not.toThrow();
    // Loss 100% needs no netem.
    expect(() => placeLinks('s', topo({ properties: { loss: 1 } }), nodes, all)).not.toThrow();
  });
});

describe('withLinkProperties: a run-time change', () => {
  const slice = (): SliceRecord => ({
    slice: 's', state: 'provisioned', request: topo({ properties: { capacity: 10e6 } }), endTime: 0, allocatedAt: 0, groupId: 1, blocks: [], generation: 1,
    links: [{
      id: 'l', kind: 'vxlan', key: 5, mtu: 1450, lan: false, addressClass: 'local', stopped: false, restart: 0,
      endpoints: [
        { node: 'r1', physicalNode: 'n1', netns: 'x1', ifname: 'eth1', addresses: [], underlay: '198.18.0.1', properties: { capacity: 10e6 } },
        { node: 'r2', physicalNode: 'n2', netns: 'x2', ifname: 'eth1', addresses: [], underlay: '198.18.0.2', properties: { capacity: 10e6 } },
      ],
    }],
  });

  it('replaces every property, in the request and per endpoint; nothing given is unshaped', () => {
    const s = withLinkProperties(slice(), { link: 'l', properties: { capacity: 50e6 }, members: [{ node: 'r2', properties: { loss: 1 } }] }, nodes, all);
    expect(s.links[0]!.endpoints.map((e) => e.properties)).toEqual([{ capacity: 50e6 }, { capacity: 50e6, loss: 1 }]);
    expect(s.request.links[0]).toMatchObject({ properties: { capacity: 50e6 }, members: [{ node: 'r1' }, { node: 'r2', properties: { loss: 1 } }] });
    const bare = withLinkProperties(s, { link: 'l' }, nodes, all);
    expect(bare.links[0]!.endpoints.map((e) => e.properties)).toEqual([undefined, undefined]);
    expect(bare.request.links[0]!.properties).toBeUndefined();
    // The record it came from is not changed (records are replaced, never changed in place).
    expect(s.links[0]!.endpoints[0]!.properties).toEqual({ capacity: 50e6 });
  });

  it('refuses as Allocate would, naming the fields of this request', () => {
    expectRefused(() => withLinkProperties(slice(), { link: 'x' }, nodes, all), NotFoundError, 'link');
    expectRefused(() => withLinkProperties(slice(), { link: 'l', members: [{ node: 'r9' }] }, nodes, all), InvalidSpecError, 'members[0].node', /"r9" is not a member of link "l" \(r1, r2\)/);
    expectRefused(() => withLinkProperties(slice(), { link: 'l', members: [{ node: 'r2', properties: { jitter: 5000 } }] }, nodes, all), InvalidSpecError, 'members[0].properties.jitter_us', /more than the latency/);
    expectRefused(() => withLinkProperties(slice(), { link: 'l', properties: { loss: 3 } }, nodes, all), InvalidSpecError, 'properties.loss');
    expectRefused(() => withLinkProperties(slice(), { link: 'l', properties: { latency: 1000 } }, nodes, all), IncompatibleStateError, 'properties.latency_us', /node n1 cannot enforce it.*sch_netem/);
    const gre = slice();
    gre.links[0] = { ...gre.links[0]!, kind: 'gre' };
    expectRefused(() => withLinkProperties(gre, { link: 'l', properties: { capacity: 1e6 } }, nodes, all), InvalidSpecError, 'encapsulation', /gre is layer 3/);
  });
});
