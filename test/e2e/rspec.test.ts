// GENI RSpec v3 end to end, through the gRPC API as an aggregate manager
// holding a request RSpec uses it (docs/rspec.md): Allocate takes the
// request RSpec (one written as geni-lib writes them) instead of a
// topology, says which elements it ignored, and builds it; Describe returns
// a manifest RSpec that parses and matches the request (every node,
// interface and link under its client_id, the addresses asked for, the
// kinds, each direction's capacity) and what was built. Mistakes in the
// RSpec, and the controller's refusals of what it asks, name the line and
// the element.
import { readFileSync } from 'node:fs';
import { status as grpcStatus } from '@grpc/grpc-js';
import { DOMParser, type Element } from '@xmldom/xmldom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelSkipReason } from '../helpers/netns.js';
import { Lab, pingNeighbours, type Manifest } from './support.js';
import { parseRequestRspec } from '../../src/rspec/request.js';

const GENI = 'http://www.geni.net/resources/rspec/3';
const VISP = 'urn:visp:rspec:manifest:1';
const fixture = (name: string): string => readFileSync(new URL(`../fixtures/rspec/${name}`, import.meta.url), 'utf8');
/**
 * The geni-lib request with its point-to-point link as vxlan, not egre-tunnel: this kernel has no gretap,
 * and the in-process agents of these tests do not run visp-engine (test/e2e/userspace-tunnels.test.ts
 * does); egre-tunnel → gretap is src/rspec/request.test.ts's.
 */
const GENI_LIB = fixture('geni-lib.xml').replace('<link_type name="egre-tunnel"/>', '<link_type name="vxlan"/>');
const byTag = (el: Element | Document, ns: string, name: string): Element[] => Array.from(el.getElementsByTagNameNS(ns, name) as unknown as ArrayLike<Element>);

describe.skipIf(kernelSkipReason)('e2e: GENI RSpec in, manifest RSpec out', () => {
  const lab = new Lab('rs', ['n1', 'n2', 'n3']);
  beforeAll(async () => { await lab.start(); });
  afterAll(async () => { await lab.close(); });

  let slice: string;
  let m: Manifest;
  it('Allocate takes a geni-lib request RSpec, names what it ignored, and builds it', async () => {
    slice = lab.slice('g');
    const r = await lab.api.links.allocate({ slice, requestRspec: GENI_LIB });
    expect(r.warnings.join('\n')).toMatch(/request_rspec:9:5: <sliver_type name="emulab-xen">: ignored \(and 2 more like it\)/);
    expect(r.warnings.join('\n')).toMatch(/<emulab:vlan_tagging>: ignored/);
    const links = Object.fromEntries(r.manifest!.slivers.map((s) => [s.link, s]));
    expect(links['link-0']!.encapsulation).toBe('ENCAPSULATION_VXLAN');
    expect(links['link-0']!.endpoints.map((e) => [e.node, e.ifname, e.addresses])).toEqual([['node-0', 'interface-0', ['192.0.2.1/30']], ['node-1', 'interface-0', ['192.0.2.2/30']]]);
    await lab.api.links.provision({ slice });
    m = await lab.waitState(slice, 'OPERATIONAL_STATE_READY', 40_000);
    expect(await pingNeighbours(m)).toEqual([]);
  }, 60_000);

  it('Describe returns a manifest RSpec that parses and matches the request and what was built', async () => {
    const d = await lab.api.links.describe({ slice, manifestRspec: true });
    const doc = new DOMParser({ onError: (level, msg) => { throw new Error(`${level}: ${msg}`); } }).parseFromString(d.manifestRspec, 'text/xml');
    const root = doc.documentElement!;
    expect([root.namespaceURI, root.getAttribute('type')]).toEqual([GENI, 'manifest']);
    const req = parseRequestRspec(GENI_LIB).topology;

    // Nodes: the request's, bound where asked, each a sliver.
    const nodes = byTag(doc, GENI, 'node');
    expect(nodes.map((n) => [n.getAttribute('client_id'), n.getAttribute('component_id'), n.getAttribute('component_manager_id')]))
      .toEqual(req.nodes.map((n) => [n.id, n.rspec!.componentId, n.rspec!.componentManagerId]));
    for (const n of nodes) expect(n.getAttribute('sliver_id')).toMatch(/^urn:publicid:IDN\+example\.net\+sliver\+/);

    // Interfaces: under their client_ids, with the addresses visp assigned (the ones asked for where given).
    const ips = new Map<string, string[]>();
    for (const i of byTag(doc, GENI, 'interface')) ips.set(i.getAttribute('client_id')!, byTag(i, GENI, 'ip').map((ip) => `${ip.getAttribute('address')} ${ip.getAttribute('netmask')} ${ip.getAttribute('type')}`));
    expect([...ips.keys()].sort()).toEqual(req.links.flatMap((l) => l.members.map((mb) => mb.rspecInterface!)).sort());
    expect(ips.get('node-0:interface-0')).toEqual(['192.0.2.1 255.255.255.252 ipv4']);
    expect(ips.get('node-1:interface-0')).toEqual(['192.0.2.2 255.255.255.252 ipv4']);
    for (const s of m.slivers) {
      for (const e of s.endpoints) {
        const id = req.links.find((l) => l.id === s.link)!.members.find((mb) => mb.node === e.node)!.rspecInterface!;
        expect(ips.get(id)!.map((x) => x.split(' ')[0])).toEqual(e.addresses.map((a) => a.split('/')[0]));
      }
    }

    // Links: their members, the kind built, each direction's capacity as asked, the tunnel visp built.
    const links = Object.fromEntries(byTag(doc, GENI, 'link').map((l) => [l.getAttribute('client_id')!, l]));
    expect(Object.keys(links)).toEqual(['link-0', 'lan-0']);
    for (const l of req.links) {
      const el = links[l.id]!;
      expect(byTag(el, GENI, 'interface_ref').map((x) => x.getAttribute('client_id'))).toEqual(l.members.map((mb) => mb.rspecInterface));
      const props = byTag(el, GENI, 'property').map((p) => [p.getAttribute('source_id'), p.getAttribute('dest_id'), Number(p.getAttribute('capacity'))]);
      const asked = l.members.map((mb) => [mb.rspecInterface, mb.properties!.capacity! / 1000]);
      expect(props.map(([s, , c]) => [s, c]).sort()).toEqual(asked.sort());
      const sliver = m.slivers.find((s) => s.link === l.id)!;
      const t = byTag(el, VISP, 'tunnel')[0]!;
      expect([t.getAttribute('kind'), Number(t.getAttribute('key')), t.getAttribute('state')]).toEqual([sliver.encapsulation.replace('ENCAPSULATION_', '').toLowerCase(), sliver.key, 'ready']);
    }
    expect(byTag(links['link-0']!, GENI, 'link_type')[0]!.getAttribute('name')).toBe('vxlan');
    expect(byTag(links['link-0']!, GENI, 'property').map((p) => p.getAttribute('dest_id'))).toEqual(['node-1:interface-0', 'node-0:interface-0']);
    // On a LAN each member's direction goes to the LAN itself (as geni-lib writes a LAN's properties).
    expect(byTag(links['lan-0']!, GENI, 'property').map((p) => p.getAttribute('dest_id'))).toEqual(['lan-0', 'lan-0', 'lan-0']);
    // And the manifest, read back as a request, is the same topology (same ids, bindings, members, addresses, properties).
    const back = parseRequestRspec(d.manifestRspec.replace('type="manifest"', 'type="request"')).topology;
    expect(back.nodes).toEqual(req.nodes);
    expect(back.links.map((l) => l.members)).toEqual(req.links.map((l) => l.members.map((mb) => ({ ...mb, ...(mb.ipv4 ? {} : { ipv4: back.links.find((b) => b.id === l.id)!.members.find((b) => b.node === mb.node)!.ipv4 }) }))));
  });

  it('a mistake in the RSpec is INVALID_ARGUMENT naming its line and element; nothing is allocated', async () => {
    const bad = fixture('jfed.xml').replace('<link_type name="lan"/>', '<link_type name="ipip-tunnel"/>');
    const err = await lab.api.links.allocate({ slice: lab.slice('bad'), requestRspec: bad }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: grpcStatus.INVALID_ARGUMENT });
    expect((err as Error).message).toMatch(/request_rspec:33:5: <link_type name="ipip-tunnel">: link_type "ipip-tunnel" is not one visp builds/);
    const xml = await lab.api.links.allocate({ slice: lab.slice('bad'), requestRspec: '<rspec xmlns="http://www.geni.net/resources/rspec/3">\n<node client_id="x"' }).catch((e: unknown) => e);
    expect(xml).toMatchObject({ code: grpcStatus.INVALID_ARGUMENT });
    expect((xml as Error).message).toMatch(/request_rspec:2:\d+: not well-formed XML/);
    const both = await lab.api.links.allocate({ slice: lab.slice('bad'), requestRspec: fixture("jfed.xml"), topology: { nodes: [{ id: "a", node: "n1" }], links: [] } }).catch((e: unknown) => e);
    expect(both).toMatchObject({ code: grpcStatus.INVALID_ARGUMENT });
    expect((both as Error).message).toMatch(/request_rspec: give a topology or a request RSpec, not both/);
    await expect(lab.api.links.status({ slice: lab.slice('bad') })).rejects.toMatchObject({ code: grpcStatus.NOT_FOUND });
  });

  it('the controller\'s refusal of what an RSpec asks names the element: latency where a node has no netem', async (ctx) => {
    const { nodes } = await lab.api.links.listResources({});
    if (nodes.every((n) => n.shapers.find((s) => s.qdisc === 'netem')?.supported)) ctx.skip();
    const err = await lab.api.links.allocate({ slice: lab.slice('j'), requestRspec: fixture('jfed.xml') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: grpcStatus.FAILED_PRECONDITION });
    expect((err as Error).message).toMatch(/request_rspec:34:5: <property source_id="node0:if0">: topology\.links\[0\]\.members\[0\]\.properties\.latency_us: node n1 cannot enforce it: latency needs the kernel's netem qdisc \(module sch_netem/);
  });
});
