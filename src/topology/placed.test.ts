// One validator for both front ends: a topology file is read into the
// controller's model and checked by the controller's validator, and the
// error names the place in the file. Here: (1) a bad field deep in a file is
// reported at its own line and column, under the file's own field path, with
// the validator's error (the model's field) kept as the cause; (2) the same
// bad topology sent through the API's conversion and validation, and read
// from a file, gives the same field and the same reason.
import { describe, expect, it } from 'vitest';
import { topologyFromPb } from '../api/convert.js';
import { validateRequest } from '../controller/validate.js';
import { InvalidSpecError } from '../errors.js';
import { parseTopology } from './yaml.js';

function fileError(text: string): InvalidSpecError {
  try { parseTopology(text, { file: 'f.yaml' }); } catch (e) { if (e instanceof InvalidSpecError) return e; throw e; }
  throw new Error('the file was accepted');
}

function apiError(slice: string, topology: Record<string, unknown>): InvalidSpecError {
  try {
    validateRequest({ slice, topology: topologyFromPb(topology)! }, Date.parse('2030-01-01T00:00:00Z'));
  } catch (e) { if (e instanceof InvalidSpecError) return e; throw e; }
  throw new Error('the request was accepted');
}

const DEEP = `# A slice of four links; the mistakes are in the last one.
name: deep
defaults:
  encapsulation: vxlan
  ipv6: { prefix_length: 64 }
nodes:
  r1: { node: n1 }
  r2: { node: n2, netns: exp-r2 }
  r3: n3
  r4: n4
links:
  - id: a
    endpoints: [r1, r2]
  - id: b
    endpoints: ["r2:eth7", r3]
  - endpoints: [r3, r4]
    mtu: 1400
  - id: d
    endpoints:
      - r1
      - { node: r4, ifname: up0 }
      - { node: r5, ipv4: 192.0.2.9 }
    class: private
`;

describe('a bad field deep in a file is reported at its line and column', () => {
  it.each<[string, (t: string) => string, string, string, string]>([
    ['an unknown node in an object endpoint of links[3]', (t) => t,
      'f.yaml:22:17: links[3].endpoints[2]: unknown node "r5"', 'links[3].endpoints[2]', 'topology.links[3].members[2].node'],
    ['an interface name given twice on a router (first as "router:ifname")', (t) => t.replace('r5', 'r3').replace('[r3, r4]', '["r3:up0", r4]').replace('node: r4, ifname: up0', 'node: r3, ifname: up0'),
      'f.yaml:21:29: links[3].endpoints[1]: up0 on r3 is already used by link "r3-r4"', 'links[3].endpoints[1]', 'topology.links[3].members[1].ifname'],
    ['an explicit address given with a prefix length', (t) => t.replace('r5', 'r3').replace('192.0.2.9', '192.0.2.9/24'),
      'f.yaml:22:27: links[3].endpoints[2].ipv4: "192.0.2.9/24" is not an IPv4 address (give it without a prefix length)', 'links[3].endpoints[2].ipv4', 'topology.links[3].members[2].ipv4'],
    ['a prefix length from defaults: placed where it is written', (t) => t.replace('r5', 'r3').replace('prefix_length: 64', 'prefix_length: 130'),
      'f.yaml:5:26: defaults.ipv6.prefix_length: /130 is outside /48–/127', 'defaults.ipv6.prefix_length', 'topology.links[0].ipv6.prefix_length'],
    ['a duplicate default id names the first link in the file\'s words', (t) => t.replace('r5', 'r3').replace('id: a\n', 'id: r3-r4\n'),
      'f.yaml:16:5: links[2].id: duplicate link id "r3-r4" (also links[0]); that is the link\'s default id (its endpoints joined by "-"): give one of them an id', 'links[2].id', 'topology.links[2].id'],
    ['a namespace name', (t) => t.replace('r5', 'r3').replace('exp-r2', '"exp/r2"'),
      'f.yaml:8:26: nodes.r2.netns: "exp/r2" is not a namespace name: it must be 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit', 'nodes.r2.netns', 'topology.nodes[1].netns'],
  ])('%s', (_what, edit, message, field, modelField) => {
    const e = fileError(edit(DEEP));
    expect(e.message).toBe(message);
    expect(e.field).toBe(field);
    expect(e.cause).toBeInstanceOf(InvalidSpecError);
    expect((e.cause as InvalidSpecError).field).toBe(modelField);
  });

  it('the file without the mistakes is accepted', () => {
    expect(parseTopology(DEEP.replace('r5', 'r3')).topology.links.map((l) => l.id)).toEqual(['a', 'b', 'r3-r4', 'd']);
  });
});

// Each case: the same topology written as a file and as an Allocate request.
const file = (links: string, nodes = '  r1: n1\n  r2: n2\n  r3: { node: n3 }\n', name = 's1'): string => `name: ${name}\nnodes:\n${nodes}links:\n${links}`;
const NODES = [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }, { id: 'r3', node: 'n3' }];
const api = (links: unknown[], nodes: unknown[] = NODES): Record<string, unknown> => ({ nodes, links });
const p2p = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ id: 'l1', members: [{ node: 'r1' }, { node: 'r2' }], ...extra });

describe('the same bad topology via the API and via a file: the same field and reason', () => {
  it.each<[string, string, string, Record<string, unknown>, string?]>([
    ['unknown member node, with a near miss', 'topology.links[0].members[1].node',
      file('  - { id: l1, endpoints: [r1, r22] }\n'), api([p2p({ members: [{ node: 'r1' }, { node: 'r22' }] })])],
    ['one member', 'topology.links[0].members', file('  - { id: l1, endpoints: [r1] }\n'), api([p2p({ members: [{ node: 'r1' }] })])],
    ['a member twice', 'topology.links[0].members[1].node', file('  - { id: l1, endpoints: [r1, r1] }\n'), api([p2p({ members: [{ node: 'r1' }, { node: 'r1' }] })])],
    ['a bad router id', 'topology.nodes[0].id', file('  - { id: l1, endpoints: [r1, r2] }\n', '  "r 1": n1\n  r2: n2\n'),
      api([p2p()], [{ id: 'r 1', node: 'n1' }, { id: 'r2', node: 'n2' }])],
    ['a bad physical node name', 'topology.nodes[1].node', file('  - { id: l1, endpoints: [r1, r2] }\n', '  r1: n1\n  r2: { node: "-x" }\n'),
      api([p2p()], [{ id: 'r1', node: 'n1' }, { id: 'r2', node: '-x' }])],
    ['a shared namespace', 'topology.nodes[1].netns', file('  - { id: l1, endpoints: [r1, r2] }\n', '  r1: { node: n1, netns: x }\n  r2: { node: n2, netns: x }\n'),
      api([p2p()], [{ id: 'r1', node: 'n1', netns: 'x' }, { id: 'r2', node: 'n2', netns: 'x' }])],
    ['a duplicate link id', 'topology.links[1].id', file('  - { id: l1, endpoints: [r1, r2] }\n  - { id: l1, endpoints: [r2, r3] }\n'),
      api([p2p(), p2p({ members: [{ node: 'r2' }, { node: 'r3' }] })])],
    ['a bad link id', 'topology.links[0].id', file('  - { id: "l/1", endpoints: [r1, r2] }\n'), api([p2p({ id: 'l/1' })])],
    ['gre on a LAN', 'topology.links[0].encapsulation', file('  - { id: l1, endpoints: [r1, r2, r3], encapsulation: gre }\n'),
      api([p2p({ members: [{ node: 'r1' }, { node: 'r2' }, { node: 'r3' }], encapsulation: 'ENCAPSULATION_GRE' })])],
    ['an MTU above 9000', 'topology.links[0].mtu', file('  - { id: l1, endpoints: [r1, r2], mtu: 9001 }\n'), api([p2p({ mtu: 9001 })])],
    ['an IPv4 prefix length of /32', 'topology.links[0].ipv4.prefix_length', file('  - { id: l1, endpoints: [r1, r2], ipv4: { prefix_length: 32 } }\n'),
      api([p2p({ ipv4: { enabled: true, prefixLength: 32 } })])],
    ['an interface name too long', 'topology.links[0].members[0].ifname', file('  - { id: l1, endpoints: ["r1:a-very-long-ifname", r2] }\n'),
      api([p2p({ members: [{ node: 'r1', ifname: 'a-very-long-ifname' }, { node: 'r2' }] })])],
    ['an interface name used twice', 'topology.links[1].members[0].ifname', file('  - { id: l1, endpoints: ["r1:x0", r2] }\n  - { id: l2, endpoints: ["r1:x0", r3] }\n'),
      api([p2p({ members: [{ node: 'r1', ifname: 'x0' }, { node: 'r2' }] }), p2p({ id: 'l2', members: [{ node: 'r1', ifname: 'x0' }, { node: 'r3' }] })])],
    ['an explicit address of the wrong family', 'topology.links[0].members[1].ipv4', file('  - { id: l1, endpoints: [r1, { node: r2, ipv4: "2001:db8::1" }] }\n'),
      api([p2p({ members: [{ node: 'r1' }, { node: 'r2', ipv4: '2001:db8::1' }] })])],
    ['an explicit address on a family switched off', 'topology.links[0].members[0].ipv6', file('  - { id: l1, endpoints: [{ node: r1, ipv6: "2001:db8::1" }, r2], ipv6: false }\n'),
      api([p2p({ members: [{ node: 'r1', ipv6: '2001:db8::1' }, { node: 'r2' }], ipv4: { enabled: true }, ipv6: { enabled: false } })])],
    ['an egress link of LOCAL addresses', 'topology.links[0].address_class', file('  - { id: up, endpoints: [r1], class: local, egress: { node: e1 } }\n'),
      api([{ id: 'up', members: [{ node: 'r1' }], addressClass: 'ADDRESS_CLASS_LOCAL', egress: { node: 'e1' } }])],
    ['an egress link over gre', 'topology.links[0].encapsulation', file('  - { id: up, endpoints: [r1], encapsulation: gre, egress: { node: e1 } }\n'),
      api([{ id: 'up', members: [{ node: 'r1' }], encapsulation: 'ENCAPSULATION_GRE', egress: { node: 'e1' } }])],
    ['an egress link with two members', 'topology.links[0].members', file('  - { id: up, endpoints: [r1, r2], egress: { node: e1 } }\n'),
      api([{ id: 'up', members: [{ node: 'r1' }, { node: 'r2' }], egress: { node: 'e1' } }])],
    ['a bad slice name', 'slice', file('  - { id: l1, endpoints: [r1, r2] }\n', undefined, '"a b"'), api([p2p()]), 'a b'],
  ])('%s', (_what, field, text, request, slice = 's1') => {
    const viaApi = apiError(slice, request);
    const viaFile = fileError(text);
    const model = viaFile.cause as InvalidSpecError;
    expect(viaApi.field).toBe(field);
    expect(model.field).toBe(field);
    expect(model.message).toBe(viaApi.message);
    // The file's message: its place, its own field path, the same reason.
    const reason = viaApi.message.slice(`${field}: `.length);
    expect(viaFile.message).toMatch(/^f\.yaml:\d+:\d+: /);
    expect(viaFile.message.endsWith(`${viaFile.field}: ${reason.replace('(also topology.links[0])', '(also links[0])')}`)).toBe(true);
  });
});
