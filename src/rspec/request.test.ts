import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IncompatibleStateError, InvalidSpecError } from '../errors.js';
import { parseRequestRspec } from './request.js';

const fixture = (name: string): string => readFileSync(new URL(`../../test/fixtures/rspec/${name}`, import.meta.url), 'utf8');

describe('request RSpec → topology', () => {
  it('as geni-lib writes one: routers on their bound nodes, egre-tunnel and lan, per-direction capacity, addresses', () => {
    const r = parseRequestRspec(fixture('geni-lib.xml'), { source: 'geni-lib.xml' });
    expect(r.topology.nodes.map((n) => [n.id, n.node])).toEqual([['node-0', 'n1'], ['node-1', 'n2'], ['node-2', 'n3']]);
    expect(r.topology.nodes[0]!.rspec).toEqual({ componentId: 'urn:publicid:IDN+example.net+node+n1', componentManagerId: 'urn:publicid:IDN+example.net+authority+cm' });
    const [p2p, lan] = r.topology.links;
    expect(p2p).toMatchObject({ id: 'link-0', encapsulation: 'gretap', ipv4: { prefixLength: 30 } });
    expect(p2p!.members).toEqual([
      { node: 'node-0', ifname: 'interface-0', rspecInterface: 'node-0:interface-0', ipv4: '192.0.2.1', properties: { capacity: 50e6 } },
      { node: 'node-1', ifname: 'interface-0', rspecInterface: 'node-1:interface-0', ipv4: '192.0.2.2', properties: { capacity: 20e6 } },
    ]);
    expect(lan).toMatchObject({ id: 'lan-0', encapsulation: 'auto', ipv4: {} });
    expect(lan!.members.map((m) => m.properties?.capacity)).toEqual([10e6, 10e6, 30e6]);
    const w = r.warnings.join('\n');
    expect(w).toMatch(/geni-lib\.xml:9:5: <sliver_type name="emulab-xen">: ignored \(and 2 more like it\): it is about the machine/);
    expect(w).toMatch(/<services>: ignored/);
    expect(w).toMatch(/<emulab:routable_control_ip>: ignored/);
    expect(w).toMatch(/<emulab:vlan_tagging>: ignored/);
    expect(w).toMatch(/<emulab:best_effort>: ignored/);
  });

  it('as jFed writes one: its canvas locations ignored, a LAN whose one member sends with latency and loss', () => {
    const r = parseRequestRspec(fixture('jfed.xml'), { source: 'jfed.xml' });
    expect(r.topology.links).toHaveLength(1);
    const l = r.topology.links[0]!;
    expect(l).toMatchObject({ id: 'link0', encapsulation: 'auto', ipv4: { prefixLength: 29 } });
    expect(l.members.map((m) => [m.node, m.ifname, m.ipv4])).toEqual([['node0', 'if0', '192.0.2.65'], ['node1', 'if0', '192.0.2.66'], ['node2', 'if0', '192.0.2.67']]);
    expect(l.members[0]!.properties).toEqual({ capacity: 100e6, latency: 20_000, loss: 0.01 });
    expect(l.members[1]!.properties).toBeUndefined();
    expect(r.warnings.join('\n')).toMatch(/jfed\.xml:\d+:\d+: <location>: ignored \(and 2 more like it\): jFed's own data/);
  });

  it('an interface name that is no Linux name is left to visp; an IPv6-only link has no IPv4', () => {
    const r = parseRequestRspec(rspec(`
      <node client_id="a" component_id="urn:publicid:IDN+x+node+n1"><interface client_id="a:a-very-long-interface"><ip address="2001:db8::1" netmask="64" type="ipv6"/></interface></node>
      <node client_id="b" component_id="urn:publicid:IDN+x+node+n2"><interface client_id="if-b"><ip address="2001:db8::2" type="ipv6"/></interface></node>
      <link client_id="l"><interface_ref client_id="a:a-very-long-interface"/><interface_ref client_id="if-b"/><link_type name="vxlan"/></link>`));
    const l = r.topology.links[0]!;
    expect(l.ipv4).toBeUndefined();
    expect(l.ipv6).toEqual({ prefixLength: 64 });
    expect(l.members.map((m) => m.ifname)).toEqual([undefined, undefined]);
  });

  it('a controller\'s refusal of a model field is placed at the element it came from, keeping its class', () => {
    const r = parseRequestRspec(fixture('jfed.xml'), { source: 'jfed.xml' });
    const e = r.place(new IncompatibleStateError('topology.links[0].members[0].properties.latency_us: node n1 cannot enforce it', { field: 'topology.links[0].members[0].properties.latency_us' }));
    expect(e).toBeInstanceOf(IncompatibleStateError);
    expect((e as Error).message).toBe('jfed.xml:34:5: <property source_id="node0:if0">: topology.links[0].members[0].properties.latency_us: node n1 cannot enforce it');
  });
});

const HEAD = '<rspec xmlns="http://www.geni.net/resources/rspec/3" type="request">';
const rspec = (body: string): string => `${HEAD}${body}\n</rspec>`;
const TWO = `
<node client_id="a" component_id="urn:publicid:IDN+x+node+n1"><interface client_id="a:if0"/></node>
<node client_id="b" component_id="urn:publicid:IDN+x+node+n2"><interface client_id="b:if0"/></node>`;
const link = (inner: string): string => rspec(`${TWO}
<link client_id="l"><interface_ref client_id="a:if0"/><interface_ref client_id="b:if0"/>${inner}</link>`);

describe('malformed request RSpecs: each refused with its line and element', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['not XML at all', 'hello', /^r\.xml:1:1: not well-formed XML: /],
    ['an unclosed element', `${HEAD}\n<node client_id="a">\n</rspec>`, /^r\.xml:2:21: not well-formed XML: Opening and ending tag mismatch: "node" != "rspec"/],
    ['an unquoted attribute', `${HEAD}\n<node client_id=a/></rspec>`, /^r\.xml:2:\d+: not well-formed XML: attribute "a" missed quot/],
    ['a DOCTYPE', `<!DOCTYPE rspec>${HEAD}</rspec>`, /^r\.xml:1:1: a DOCTYPE is not accepted/],
    ['the wrong root', '<rspec xmlns="http://www.protogeni.net/resources/rspec/2" type="request"/>', /^r\.xml:1:1: <rspec>: not a GENI v3 RSpec: .*its namespace is http:\/\/www\.protogeni\.net\/resources\/rspec\/2/],
    ['a manifest', '<rspec xmlns="http://www.geni.net/resources/rspec/3" type="manifest"/>', /^r\.xml:1:1: <rspec>: type="manifest": visp takes a request RSpec/],
    ['a node without client_id', rspec('\n<node component_id="urn:publicid:IDN+x+node+n1"/>'), /^r\.xml:2:1: <node>: client_id is required/],
    ['an unbound node', rspec('\n<node client_id="a"/>'), /^r\.xml:2:1: <node client_id="a">: no component_id: visp puts each router on the physical node/],
    ['a component_id that is not a node URN', rspec('\n<node client_id="a" component_id="pc7"/>'), /^r\.xml:2:1: <node client_id="a">: component_id="pc7" is not a node URN/],
    ['a node name with a broken %-escape', rspec('\n<node client_id="a" component_id="urn:publicid:IDN+x+node+n%E0%A4%A"/>'), /^r\.xml:2:1: <node client_id="a">: component_id="urn:publicid:IDN\+x\+node\+n%E0%A4%A": its node name has a broken %-escape/],
    ['entities (an XML bomb starts so)', `<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>${HEAD}\n<node client_id="&b;" component_id="urn:publicid:IDN+x+node+n1"/></rspec>`, /^r\.xml:\d+:\d+: not well-formed XML: entity not found:&b;/],
    ['an external DTD', `<!DOCTYPE rspec SYSTEM "file:///etc/passwd">${HEAD}</rspec>`, /^r\.xml:1:1: a DOCTYPE is not accepted/],
    ['a control character in an attribute, as a character reference', rspec('\n<node client_id="a" component_id="urn:publicid:IDN+x+node+n1">\n<interface client_id="a:&#1;"/></node>'), /^r\.xml:3:1: <interface>: client_id: U\+0001 is not a character XML allows/],
    ['a noncharacter in an unmodelled element', rspec('\n<node client_id="a" component_id="urn:publicid:IDN+x+node+n1"><x:y xmlns:x="urn:q" v="&#xFFFE;"/></node>'), /^r\.xml:2:\d+: <x:y>: v: U\+FFFE is not a character XML allows/],
    ['a router id visp cannot take', rspec('\n<node client_id="a b" component_id="urn:publicid:IDN+x+node+n1"/>\n<link client_id="l"/>'), /^r\.xml:2:1: <node client_id="a b">: topology\.nodes\[0\]\.id: "a b" must be 1–63 letters/],
    ['two aggregates', rspec(`
<node client_id="a" component_id="urn:publicid:IDN+x+node+n1" component_manager_id="urn:publicid:IDN+x+authority+cm"/>
<node client_id="b" component_id="urn:publicid:IDN+y+node+n2" component_manager_id="urn:publicid:IDN+y+authority+cm"/>`), /^r\.xml:3:1: <node client_id="b">: component_manager_id="urn:publicid:IDN\+y\+authority\+cm", while <node client_id="a"> \(line 2\).*stitching/],
    ['a delay node', rspec('\n<node client_id="d" component_id="urn:publicid:IDN+x+node+n1">\n  <sliver_type name="delay"/></node>'), /^r\.xml:3:3: <sliver_type name="delay">: a delay node is how Emulab shapes a link; in visp give the link property elements/],
    ['an unknown GENI element', rspec('\n<node client_id="a" component_id="urn:publicid:IDN+x+node+n1">\n  <interfase client_id="a:if0"/></node>'), /^r\.xml:3:3: <interfase client_id="a:if0">: visp does not know <interfase> inside <node>/],
    ['an address that is none', rspec('\n<node client_id="a" component_id="urn:publicid:IDN+x+node+n1"><interface client_id="a:if0">\n<ip address="192.0.2.300" netmask="24"/></interface></node>'), /^r\.xml:3:1: <ip>: address="192\.0\.2\.300" is not an IP address/],
    ['a netmask with holes', rspec('\n<node client_id="a" component_id="urn:publicid:IDN+x+node+n1"><interface client_id="a:if0">\n<ip address="192.0.2.1" netmask="255.0.255.0"/></interface></node>'), /^r\.xml:3:1: <ip>: netmask="255\.0\.255\.0" is not a contiguous netmask/],
    ['an interface_ref to nothing', rspec(`${TWO}\n<link client_id="l">\n  <interface_ref client_id="c:if0"/></link>`), /^r\.xml:5:3: <interface_ref client_id="c:if0">: no <interface client_id="c:if0"> in any node/],
    ['an interface on two links', rspec(`${TWO}\n<link client_id="l"><interface_ref client_id="a:if0"/><interface_ref client_id="b:if0"/></link>\n<link client_id="m"><interface_ref client_id="a:if0"/></link>`), /^r\.xml:5:\d+: <interface_ref client_id="a:if0">: interface "a:if0" is already on link "l"/],
    ['a link of one', rspec(`${TWO}\n<link client_id="l"><interface_ref client_id="a:if0"/></link>`), /^r\.xml:4:1: <link client_id="l">: topology\.links\[0\]\.members: a link needs at least 2 members, has 1/],
    ['a link_type visp does not build', link('\n<link_type name="ipip-tunnel"/>'), /^r\.xml:5:1: <link_type name="ipip-tunnel">: link_type "ipip-tunnel" is not one visp builds/],
    ['a shaped gre-tunnel (layer 3)', link('\n<link_type name="gre-tunnel"/><property source_id="a:if0" dest_id="b:if0" capacity="1000"/>'), /^r\.xml:5:1: <link_type name="gre-tunnel">: topology\.links\[0\]\.encapsulation: gre is layer 3/],
    ['a capacity that is no number', link('\n<property source_id="a:if0" dest_id="b:if0" capacity="fast"/>'), /^r\.xml:5:1: <property source_id="a:if0">: capacity="fast" is not a number \(kbit\/s\)/],
    ['a capacity so small it rounds to 0 bit/s (not unshaped)', link('\n<property source_id="a:if0" dest_id="b:if0" capacity="0.0004"/>'), /^r\.xml:5:1: <property source_id="a:if0">: topology\.links\[0\]\.members\[0\]\.properties\.capacity_bps: 1 bit\/s is outside/],
    ['a loss above 1', link('\n<property source_id="a:if0" dest_id="b:if0" packet_loss="5"/>'), /^r\.xml:5:1: <property source_id="a:if0">: topology\.links\[0\]\.members\[0\]\.properties\.loss: /],
    ['a property from outside the link', link('\n<property source_id="c:if0" dest_id="b:if0" capacity="1000"/>'), /^r\.xml:5:1: <property source_id="c:if0">: source_id "c:if0" is not an interface on link "l"/],
    ['a property to itself', link('\n<property source_id="a:if0" dest_id="a:if0" capacity="1000"/>'), /^r\.xml:5:1: <property source_id="a:if0">: dest_id "a:if0" is neither another interface/],
    ['a LAN shaped per pair', rspec(`${TWO}
<node client_id="c" component_id="urn:publicid:IDN+x+node+n3"><interface client_id="c:if0"/></node>
<link client_id="l"><interface_ref client_id="a:if0"/><interface_ref client_id="b:if0"/><interface_ref client_id="c:if0"/>
<property source_id="a:if0" dest_id="b:if0" capacity="1000"/>
<property source_id="a:if0" dest_id="c:if0" capacity="2000"/></link>`), /^r\.xml:7:1: <property source_id="a:if0">: what "a:if0" sends is given differently towards "b:if0" \(line 6\) and "c:if0"/],
    ['a shared VLAN', link('\n<sharedvlan:link_shared_vlan xmlns:sharedvlan="http://www.protogeni.net/resources/rspec/ext/shared-vlan/1" name="v"/>'), /^r\.xml:5:1: <sharedvlan:link_shared_vlan name="v">: a shared VLAN joins the link to a VLAN outside the slice/],
    ['a link across aggregates', link('\n<component_manager name="urn:a"/>\n<component_manager name="urn:b"/>'), /^r\.xml:6:1: <component_manager name="urn:b">: a second component_manager/],
    ['two addresses of a family', rspec('\n<node client_id="a" component_id="urn:publicid:IDN+x+node+n1"><interface client_id="a:if0"><ip address="192.0.2.1"/>\n<ip address="192.0.2.2"/></interface></node>'), /^r\.xml:3:1: <ip>: the interface already has an ipv4 address \(line 2\)/],
    ['members on different subnets', rspec(`
<node client_id="a" component_id="urn:publicid:IDN+x+node+n1"><interface client_id="a:if0"><ip address="192.0.2.1" netmask="24"/></interface></node>
<node client_id="b" component_id="urn:publicid:IDN+x+node+n2"><interface client_id="b:if0">
<ip address="192.0.2.2" netmask="25"/></interface></node>
<link client_id="l"><interface_ref client_id="a:if0"/><interface_ref client_id="b:if0"/></link>`), /^r\.xml:4:1: <ip>: \/25, while another member of link "l" has \/24/],
  ];
  it.each(cases)('%s', (_name, text, expected) => {
    let err: unknown;
    try {
      parseRequestRspec(text, { source: 'r.xml' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidSpecError);
    expect((err as Error).message).toMatch(expected);
  });
});
