import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import type { Topology } from '../controller/model.js';
import { parseTopology } from './yaml.js';

const NODES = `nodes:
  r1: { node: n1 }
  r2: { node: n2 }
  r3: { node: n3 }
`;
const head = (links: string): string => `name: t\n${NODES}links:\n${links}`;

describe('parseTopology: valid files', () => {
  const cases: Array<{ name: string; text: string; want: Partial<Topology & { name: string }> }> = [
    {
      name: 'minimal point-to-point: defaults (auto, local, IPv4 only, id from members)',
      text: head('  - endpoints: [r1, r2]\n'),
      want: { links: [{ id: 'r1-r2', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'auto', addressClass: 'local', ipv4: {} }] },
    },
    {
      name: 'node shorthand, netns, integer ids',
      text: 'name: s\nnodes:\n  r1: n1\n  2: { node: 7, netns: exp-2 }\nlinks:\n  - endpoints: [r1, 2]\n',
      want: { name: 's', nodes: [{ id: 'r1', node: 'n1' }, { id: '2', node: '7', netns: 'exp-2' }], links: [{ id: 'r1-2', members: [{ node: 'r1' }, { node: '2' }], encapsulation: 'auto', addressClass: 'local', ipv4: {} }] },
    },
    {
      name: '"router:ifname" and object endpoints with explicit addresses',
      text: head('  - id: a\n    endpoints: ["r1:eth5", { node: r2, ifname: up0, ipv4: 192.0.2.9, ipv6: "2001:db8::9" }]\n'),
      want: { links: [{ id: 'a', members: [{ node: 'r1', ifname: 'eth5' }, { node: 'r2', ifname: 'up0', ipv4: '192.0.2.9', ipv6: '2001:db8::9' }], encapsulation: 'auto', addressClass: 'local', ipv4: {}, ipv6: {} }] },
    },
    {
      name: 'ipv6 only: IPv4 is off when only IPv6 is asked for',
      text: head('  - endpoints: [r1, r2]\n    ipv6: true\n'),
      want: { links: [{ id: 'r1-r2', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'auto', addressClass: 'local', ipv6: {} }] },
    },
    {
      name: 'dual stack with prefix lengths, mtu, class, encapsulation',
      text: head('  - endpoints: [r1, r2]\n    encapsulation: gretap\n    ipv4: { prefix_length: 30 }\n    ipv6: { prefix_length: 64 }\n    mtu: 1400\n    class: public\n'),
      want: { links: [{ id: 'r1-r2', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'gretap', addressClass: 'public', mtu: 1400, ipv4: { prefixLength: 30 }, ipv6: { prefixLength: 64 } }] },
    },
    {
      name: 'an explicit IPv6 address asks for IPv6 (IPv4 stays on when said)',
      text: head('  - endpoints: [r1, { node: r2, ipv6: "2001:db8::2" }]\n    ipv4: true\n'),
      want: { links: [{ id: 'r1-r2', members: [{ node: 'r1' }, { node: 'r2', ipv6: '2001:db8::2' }], encapsulation: 'auto', addressClass: 'local', ipv4: {}, ipv6: {} }] },
    },
    {
      name: 'LAN of three; defaults apply, links override them',
      text: `name: t\ndefaults: { encapsulation: vxlan, mtu: 1450, class: private, ipv6: true, ipv4: false }\n${NODES}links:\n  - id: lan\n    endpoints: [r1, r2, r3]\n  - endpoints: [r1, r3]\n    encapsulation: gre\n    ipv4: true\n`,
      want: {
        links: [
          { id: 'lan', members: [{ node: 'r1' }, { node: 'r2' }, { node: 'r3' }], encapsulation: 'vxlan', addressClass: 'private', mtu: 1450, ipv6: {} },
          { id: 'r1-r3', members: [{ node: 'r1' }, { node: 'r3' }], encapsulation: 'gre', addressClass: 'private', mtu: 1450, ipv4: {}, ipv6: {} },
        ],
      },
    },
    {
      name: 'egress link: one endpoint, public by default, routes and default_route',
      text: head('  - endpoints: [r1]\n    egress: { node: e1 }\n  - id: up2\n    endpoints: [r2]\n    egress: { node: e1, routes: full, default_route: false }\n    ipv6: true\n    ipv4: true\n'),
      want: {
        links: [
          { id: 'r1-e1', members: [{ node: 'r1' }], encapsulation: 'auto', addressClass: 'public', ipv4: {}, egress: { node: 'e1', routes: 'default', defaultRoute: true } },
          { id: 'up2', members: [{ node: 'r2' }], encapsulation: 'auto', addressClass: 'public', ipv4: {}, ipv6: {}, egress: { node: 'e1', routes: 'full', defaultRoute: false } },
        ],
      },
    },
    {
      name: 'link properties in readable units, both directions; per direction under from',
      text: head('  - endpoints: [r1, r2]\n    capacity: 100Mbit\n    latency: 20ms\n    jitter: 500us\n    loss: 0.5%\n    from:\n      r2: { capacity: 1.5Gbit, corruption: 0.1%, reorder: 1% }\n'),
      want: { links: [{ id: 'r1-r2', members: [{ node: 'r1' }, { node: 'r2', properties: { capacity: 1_500_000_000, corruption: 0.001, reorder: 0.01 } }], encapsulation: 'auto', addressClass: 'local', ipv4: {},
        properties: { capacity: 100_000_000, latency: 20_000, jitter: 500, loss: 0.005 } }] },
    },
    {
      name: 'a guaranteed link: its capacity reserved on the nodes',
      text: head('  - endpoints: [r1, r2]\n    capacity: 10Mbit\n    guaranteed: true\n'),
      want: { links: [{ id: 'r1-r2', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'auto', addressClass: 'local', ipv4: {}, properties: { capacity: 10_000_000 }, guaranteed: true }] },
    },
    {
      name: 'anchors and aliases',
      text: `name: t\n${NODES}links:\n  - endpoints: &pair [r1, r2]\n    id: a\n  - endpoints: *pair\n    id: b\n`,
      want: { links: ['a', 'b'].map((id) => ({ id, members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'auto' as const, addressClass: 'local' as const, ipv4: {} })) },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { name, topology } = parseTopology(c.text);
      expect({ name, ...topology }).toMatchObject(c.want);
      if (c.want.links) expect(topology.links).toEqual(c.want.links);
    });
  }
});

describe('parseTopology: errors name the line, the field and the reason', () => {
  const cases: Array<{ name: string; text: string; field: string; message: RegExp }> = [
    { name: 'empty file', text: '', field: '', message: /^f\.yaml: the file is empty/ },
    { name: 'YAML syntax', text: 'name: [\n', field: '', message: /^f\.yaml:\d+:\d+: / },
    { name: 'duplicate key', text: 'name: a\nname: b\n', field: '', message: /^f\.yaml:2:1: .*unique/i },
    { name: 'top level is a list', text: '- a\n', field: '', message: /^f\.yaml:1:1: expected a mapping.*got a list/ },
    { name: 'missing name', text: `${NODES}links: []\n`, field: 'name', message: /^f\.yaml:1:1: name: is required/ },
    { name: 'bad name', text: `name: "a b"\n${NODES}links: []\n`, field: 'name', message: /^f\.yaml:1:7: name: "a b" must be 1–63/ },
    { name: 'unknown top-level field', text: `name: a\nnode: {}\n`, field: 'node', message: /^f\.yaml:2:1: node: unknown field \(did you mean "nodes"\?\)/ },
    { name: 'no nodes', text: 'name: a\nnodes: {}\nlinks: []\n', field: 'nodes', message: /f\.yaml:2:8: nodes: at least one node/ },
    { name: 'nodes as a list', text: 'name: a\nnodes: [r1]\nlinks: []\n', field: 'nodes', message: /nodes: expected a mapping \(routers by id/ },
    { name: 'node without physical node', text: 'name: a\nnodes:\n  r1:\nlinks: []\n', field: 'nodes.r1', message: /^f\.yaml:3:3: nodes\.r1: needs its physical node/ },
    { name: 'node missing node:', text: 'name: a\nnodes:\n  r1: { netns: x }\nlinks: []\n', field: 'nodes.r1.node', message: /nodes\.r1\.node: is required/ },
    { name: 'bad router id', text: 'name: a\nnodes:\n  "r 1": n1\nlinks: []\n', field: 'nodes', message: /^f\.yaml:3:3: nodes: "r 1" must be/ },
    { name: 'bad physical node name', text: 'name: a\nnodes:\n  r1: { node: "-x" }\nlinks: []\n', field: 'nodes.r1.node', message: /^f\.yaml:3:15: nodes\.r1\.node: "-x" must be/ },
    { name: 'unknown node field', text: 'name: a\nnodes:\n  r1: { node: n1, namespace: x }\nlinks: []\n', field: 'nodes.r1.namespace', message: /unknown field; expected one of node, netns/ },
    { name: 'shared netns', text: 'name: a\nnodes:\n  r1: { node: n1, netns: x }\n  r2: { node: n1, netns: x }\nlinks: []\n', field: 'nodes.r2.netns', message: /^f\.yaml:4:26: .*namespace "x" is already used by node "r1"/ },
    { name: 'no links', text: `name: a\n${NODES}links: []\n`, field: 'links', message: /^f\.yaml:6:8: links: at least one link/ },
    { name: 'links missing', text: `name: a\n${NODES}`, field: 'links', message: /links: is required/ },
    { name: 'link is a string', text: head('  - r1-r2\n'), field: 'links[0]', message: /^f\.yaml:7:5: links\[0\]: expected a mapping.*got the string "r1-r2"/ },
    { name: 'unknown link field', text: head('  - endpoints: [r1, r2]\n    encapsulaton: vxlan\n'), field: 'links[0].encapsulaton', message: /^f\.yaml:8:5: .*did you mean "encapsulation"/ },
    { name: 'missing endpoints', text: head('  - id: a\n'), field: 'links[0].endpoints', message: /links\[0\]\.endpoints: is required/ },
    { name: 'endpoints not a list', text: head('  - endpoints: r1\n'), field: 'links[0].endpoints', message: /expected a list, got the string "r1"/ },
    { name: 'one endpoint', text: head('  - endpoints: [r1]\n'), field: 'links[0].endpoints', message: /at least 2 members, has 1/ },
    { name: 'unknown node', text: head('  - endpoints: [r1, r2]\n  - endpoints: [r2, r3]\n  - endpoints: [r1, r9]\n'), field: 'links[2].endpoints[1]', message: /^f\.yaml:9:21: links\[2\]\.endpoints\[1\]: unknown node "r9"$/ },
    { name: 'unknown node, near miss suggested', text: 'name: a\nnodes: { router1: n1, router2: n2 }\nlinks:\n  - endpoints: [router1, ruoter2]\n', field: 'links[0].endpoints[1]', message: /unknown node "ruoter2" \(did you mean "router2"\?\)/ },
    { name: 'unknown node in object endpoint', text: head('  - endpoints: [r1, { node: r7 }]\n'), field: 'links[0].endpoints[1]', message: /^f\.yaml:7:29: .*unknown node "r7"/ },
    { name: 'member twice', text: head('  - endpoints: [r1, r1]\n'), field: 'links[0].endpoints[1]', message: /node "r1" is a member twice/ },
    { name: 'duplicate link id', text: head('  - { id: a, endpoints: [r1, r2] }\n  - { id: a, endpoints: [r2, r3] }\n'), field: 'links[1].id', message: /^f\.yaml:8:11: links\[1\]\.id: duplicate link id "a" \(also links\[0\]\)$/ },
    { name: 'duplicate default id', text: head('  - endpoints: [r1, r2]\n  - endpoints: [r1, r2]\n'), field: 'links[1].id', message: /duplicate link id "r1-r2".*give one of them an id/ },
    { name: 'bad link id', text: head('  - { id: "a/b", endpoints: [r1, r2] }\n'), field: 'links[0].id', message: /"a\/b" must be/ },
    { name: 'ifname too long', text: head('  - endpoints: ["r1:averyveryverylongname", r2]\n'), field: 'links[0].endpoints[0]', message: /cannot be an interface name: it is 21 bytes/ },
    { name: 'ifname lo', text: head('  - endpoints: [{ node: r1, ifname: lo }, r2]\n'), field: 'links[0].endpoints[0]', message: /"lo" is the loopback interface/ },
    { name: 'empty ifname', text: head('  - endpoints: ["r1:", r2]\n'), field: 'links[0].endpoints[0]', message: /cannot be an interface name: it is empty/ },
    { name: 'ifname used twice on a router', text: head('  - endpoints: ["r1:eth1", r2]\n  - endpoints: ["r1:eth1", r3]\n'), field: 'links[1].endpoints[0]', message: /eth1 on r1 is already used by link "r1-r2"/ },
    { name: 'bad IPv4 address', text: head('  - endpoints: [{ node: r1, ipv4: 192.0.2.300 }, r2]\n'), field: 'links[0].endpoints[0].ipv4', message: /"192\.0\.2\.300" is not an IPv4 address$/ },
    { name: 'address with prefix length', text: head('  - endpoints: [{ node: r1, ipv4: 192.0.2.1/24 }, r2]\n'), field: 'links[0].endpoints[0].ipv4', message: /without a prefix length/ },
    { name: 'IPv4 in the ipv6 field', text: head('  - endpoints: [{ node: r1, ipv6: 192.0.2.1 }, r2]\n'), field: 'links[0].endpoints[0].ipv6', message: /not an IPv6 address/ },
    { name: 'explicit address, family off', text: head('  - endpoints: [{ node: r1, ipv6: "2001:db8::1" }, r2]\n    ipv6: false\n'), field: 'links[0].endpoints[0].ipv6', message: /the link has ipv6 switched off/ },
    { name: 'unknown endpoint field', text: head('  - endpoints: [{ node: r1, interface: eth1 }, r2]\n'), field: 'links[0].endpoints[0].interface', message: /unknown field; expected one of node, ifname, ipv4, ipv6/ },
    { name: 'endpoint is a number list', text: head('  - endpoints: [[1], r2]\n'), field: 'links[0].endpoints[0]', message: /expected a mapping \(a router id, "router:ifname"/ },
    { name: 'unknown encapsulation', text: head('  - endpoints: [r1, r2]\n    encapsulation: vxaln\n'), field: 'links[0].encapsulation', message: /^f\.yaml:8:20: .*"vxaln" is not one of vxlan, gre.*\(did you mean "vxlan"\?\)/ },
    { name: 'gre LAN', text: head('  - endpoints: [r1, r2, r3]\n    encapsulation: gre\n'), field: 'links[0].encapsulation', message: /gre is layer 3 and point-to-point only; a LAN of 3/ },
    { name: 'mtu too small', text: head('  - endpoints: [r1, r2]\n    mtu: 100\n'), field: 'links[0].mtu', message: /100 is outside 576–9000/ },
    { name: 'mtu not a number', text: head('  - endpoints: [r1, r2]\n    mtu: big\n'), field: 'links[0].mtu', message: /expected a whole number, got the string "big"/ },
    { name: 'mtu empty', text: head('  - endpoints: [r1, r2]\n    mtu:\n'), field: 'links[0].mtu', message: /^f\.yaml:8:5: links\[0\]\.mtu: has no value/ },
    { name: 'bad class', text: head('  - endpoints: [r1, r2]\n    class: global\n'), field: 'links[0].class', message: /"global" is not one of public, local, private/ },
    { name: 'addressing not a bool', text: head('  - endpoints: [r1, r2]\n    ipv6: yes\n'), field: 'links[0].ipv6', message: /expected true, false or \{ prefix_length: N \}/ },
    { name: 'prefix length out of range', text: head('  - endpoints: [r1, r2]\n    ipv4: { prefix_length: 8 }\n'), field: 'links[0].ipv4.prefix_length', message: /\/8 is outside \/16–\/31/ },
    { name: 'IPv6 prefix length out of range', text: head('  - endpoints: [r1, r2]\n    ipv6: { prefix_length: 128 }\n'), field: 'links[0].ipv6.prefix_length', message: /\/128 is outside \/48–\/127/ },
    { name: 'unknown addressing field', text: head('  - endpoints: [r1, r2]\n    ipv6: { prefix_lenght: 64 }\n'), field: 'links[0].ipv6.prefix_lenght', message: /did you mean "prefix_length"/ },
    { name: 'both families off', text: head('  - endpoints: [r1, r2]\n    ipv4: false\n'), field: 'links[0]', message: /neither ipv4 nor ipv6 is enabled/ },
    { name: 'egress link with two endpoints', text: head('  - endpoints: [r1, r2]\n    egress: { node: e1 }\n'), field: 'links[0].endpoints', message: /an egress link has exactly 1 member/ },
    { name: 'egress without node', text: head('  - endpoints: [r1]\n    egress: { routes: full }\n'), field: 'links[0].egress.node', message: /is required/ },
    { name: 'egress routes unknown', text: head('  - endpoints: [r1]\n    egress: { node: e1, routes: all }\n'), field: 'links[0].egress.routes', message: /"all" is not one of default, full/ },
    { name: 'egress default_route not a bool', text: head('  - endpoints: [r1]\n    egress: { node: e1, default_route: maybe }\n'), field: 'links[0].egress.default_route', message: /must be true or false/ },
    { name: 'egress unknown field', text: head('  - endpoints: [r1]\n    egress: { node: e1, asn: 1 }\n'), field: 'links[0].egress.asn', message: /unknown field; expected one of node, routes, default_route/ },
    { name: 'capacity without a unit', text: head('  - endpoints: [r1, r2]\n    capacity: 100\n'), field: 'links[0].capacity', message: /^f\.yaml:8:15: links\[0\]\.capacity: "100" is not a rate: give bits per second with a unit, e\.g\. 64kbit/ },
    { name: 'latency in bad units', text: head('  - endpoints: [r1, r2]\n    latency: 20 parsecs\n'), field: 'links[0].latency', message: /"20 parsecs" is not a time/ },
    { name: 'loss as a bare number', text: head('  - endpoints: [r1, r2]\n    loss: 0.5\n'), field: 'links[0].loss', message: /"0\.5" is not a percentage: give it with %/ },
    { name: 'loss over 100%', text: head('  - endpoints: [r1, r2]\n    loss: 150%\n'), field: 'links[0].loss', message: /^f\.yaml:8:11: links\[0\]\.loss: 1\.5 is not a fraction from 0 to 1/ },
    { name: 'capacity too small', text: head('  - endpoints: [r1, r2]\n    capacity: 1kbit\n'), field: 'links[0].capacity', message: /1000 bit\/s is outside 8 kbit\/s–10 Tbit\/s/ },
    { name: 'jitter above latency', text: head('  - endpoints: [r1, r2]\n    latency: 1ms\n    jitter: 2ms\n'), field: 'links[0].jitter', message: /2ms is more than the latency \(1ms\)/ },
    { name: 'per-direction jitter above the link latency', text: head('  - endpoints: [r1, r2]\n    latency: 1ms\n    from: { r2: { jitter: 5ms } }\n'), field: 'links[0].from.r2.jitter', message: /5ms is more than the latency \(1ms\)/ },
    { name: 'reorder without latency', text: head('  - endpoints: [r1, r2]\n    reorder: 1%\n'), field: 'links[0].reorder', message: /needs a latency/ },
    { name: 'from names a router not on the link', text: head('  - endpoints: [r1, r2]\n    from: { r3: { capacity: 1Mbit } }\n'), field: 'links[0].from.r3', message: /^f\.yaml:8:13: links\[0\]\.from\.r3: "r3" is not an endpoint of this link \(r1, r2\)/ },
    { name: 'unknown property under from', text: head('  - endpoints: [r1, r2]\n    from: { r1: { bandwidth: 1Mbit } }\n'), field: 'links[0].from.r1.bandwidth', message: /unknown field; expected one of capacity, latency/ },
    { name: 'properties on a layer-3 link', text: head('  - endpoints: [r1, r2]\n    encapsulation: gre\n    capacity: 10Mbit\n'), field: 'links[0].encapsulation', message: /gre is layer 3: .*a link with properties needs vxlan/ },
    { name: 'guaranteed without a capacity one way', text: head('  - endpoints: [r1, r2]\n    guaranteed: true\n    from: { r1: { capacity: 1Mbit } }\n'), field: 'links[0].guaranteed', message: /^f\.yaml:8:17: links\[0\]\.guaranteed: a guaranteed link needs a capacity in every direction; what r2 sends has none/ },
    { name: 'guaranteed not a bool', text: head('  - endpoints: [r1, r2]\n    guaranteed: yes please\n'), field: 'links[0].guaranteed', message: /expected true or false/ },
    { name: 'bad default', text: `name: a\ndefaults: { encapsulation: ppp }\n${NODES}links: []\n`, field: 'defaults.encapsulation', message: /^f\.yaml:2:28: defaults\.encapsulation: "ppp" is not one of/ },
    { name: 'unknown default', text: `name: a\ndefaults: { id: x }\n${NODES}links: []\n`, field: 'defaults.id', message: /unknown field; expected one of encapsulation, mtu, class, ipv4, ipv6/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      let err: unknown;
      try { parseTopology(c.text, { file: 'f.yaml' }); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidSpecError);
      const e = err as InvalidSpecError;
      expect(e.field).toBe(c.field);
      expect(e.message).toMatch(c.message);
      expect(e.message).not.toContain('\n');
    });
  }

  // A file that is not a mapping parses as one long string: the error must say what it is, never quote the whole file.
  it.each([
    ['an XML RSpec', '<?xml version="1.0"?>\n<rspec type="request">\n  <node client_id="r1"/>\n</rspec>\n', /^t\.xml:1:1: this looks like XML \(a GENI RSpec\?\)/],
    ['a long line of prose', `${'this is not a topology file at all '.repeat(20)}\n`, /^t\.xml:1:1: expected a mapping.*, got the string "this is not a topology file at all this "… \(\d+ characters\)$/],
  ])('%s: a short error, not the file quoted', (_what, text, re) => {
    let err: Error | undefined;
    try { parseTopology(text, { file: 't.xml' }); } catch (e) { err = e as Error; }
    expect(err).toBeInstanceOf(InvalidSpecError);
    expect(err!.message).toMatch(re);
    expect(err!.message.length).toBeLessThan(200);
  });

  it('without a file name, says "line N"', () => {
    expect(() => parseTopology(head('  - endpoints: [r1, r9]\n'))).toThrow(/^line 7: links\[0\]\.endpoints\[1\]: unknown node "r9"$/);
  });
});

describe('examples/*.yaml', () => {
  const dir = new URL('../../examples/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  it('there are examples', () => { expect(files.length).toBeGreaterThanOrEqual(4); });
  for (const f of files) {
    it(`${f} parses`, () => {
      const t = parseTopology(readFileSync(new URL(f, dir), 'utf8'), { file: f });
      expect(t.topology.links.length).toBeGreaterThan(0);
    });
  }
});
