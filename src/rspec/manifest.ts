// A slice's manifest as a GENI v3 manifest RSpec (Describe with
// manifest_rspec): the request's nodes, interfaces and links under their
// client_ids, each with a sliver_id, the addresses visp assigned (ip), the
// kind it built (link_type, in GENI's words where GENI has one) and each
// direction's properties (property, source_id → dest_id, in GENI's units:
// kbit/s, ms, fraction). What GENI has no word for is in visp's extension
// namespace: per link the tunnel (kind, key or VNI, MTU, state, error), per
// node the experiment's namespace, and jitter, corruption and reordering on
// a property. A slice allocated from a Topology, not an RSpec, gets
// client_ids made from visp's ids (interface "ROUTER:IFNAME").
//
// Written as text, in paced stretches (a 10,000-link slice is a few MB):
// the controller's loop is never held for more than a few ms.
import { EGRESS_MEMBER, type EndpointStatus, type Manifest, type Topology } from '../controller/model.js';
import type { Pacer } from '../ipam/pacer.js';
import { shapedOnly, type LinkProperties } from '../shape/properties.js';
import { linkTypeOf } from './link-types.js';
import { escapeAttr, GENI_V3 } from './xml.js';

export const VISP_NS = 'urn:visp:rspec:manifest:1';

const attrs = (a: Record<string, string | number | undefined>): string =>
  Object.entries(a).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => ` ${k}="${escapeAttr(String(v))}"`).join('');

/** The authority of a component_manager_id (urn:publicid:IDN+AUTH+authority+cm), else "visp". */
function authorityOf(t: Topology): string {
  const cm = t.nodes.find((n) => n.rspec?.componentManagerId)?.rspec?.componentManagerId;
  return /^urn:publicid:IDN\+([^+]+)\+/.exec(cm ?? '')?.[1] ?? 'visp';
}

/** A sliver URN; "/" and other characters a URN's name part does not take are percent-encoded. */
const sliverUrn = (auth: string, name: string): string => `urn:publicid:IDN+${auth}+sliver+${name.replace(/[^A-Za-z0-9._:-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`)}`;

/** "192.0.2.1/30" → the ip element's attributes (a dotted netmask for IPv4, the prefix length for IPv6). */
function ipAttrs(cidr: string): Record<string, string> {
  const [address, len] = cidr.split('/') as [string, string];
  const n = Number(len);
  if (address.includes(':')) return { address, netmask: len, type: 'ipv6' };
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return { address, netmask: [24, 16, 8, 0].map((s) => (mask >>> s) & 255).join('.'), type: 'ipv4' };
}

/** GENI's property attributes for one direction, and visp's for what GENI has no word for. */
function propertyAttrs(p: LinkProperties): Record<string, string | number | undefined> {
  return {
    capacity: p.capacity ? p.capacity / 1000 : undefined,
    latency: p.latency ? p.latency / 1000 : undefined,
    packet_loss: p.loss || undefined,
    'visp:jitter': p.jitter ? p.jitter / 1000 : undefined,
    'visp:corruption': p.corruption || undefined,
    'visp:reorder': p.reorder || undefined,
  };
}

export async function manifestRspec(m: Manifest, request: Topology, pace: Pacer, now = new Date()): Promise<string> {
  const auth = authorityOf(request);
  const ifaceId = new Map<string, string>(); // "link/router" → interface client_id
  for (const l of request.links) for (const mb of l.members) if (mb.rspecInterface) ifaceId.set(`${l.id}/${mb.node}`, mb.rspecInterface);
  const idOf = (link: string, e: EndpointStatus): string => ifaceId.get(`${link}/${e.node}`) ?? `${e.node}:${e.ifname}`;
  // Each router's interfaces, from every sliver's endpoints on it.
  const ifaces = new Map<string, string[]>();
  const links: string[] = [];
  for (const s of m.slivers) {
    if (pace.due()) await pace.pause();
    const eps = s.endpoints.filter((e) => e.node !== EGRESS_MEMBER);
    for (const e of eps) {
      const id = idOf(s.link.id, e);
      const ips = e.addresses.map((a) => `      <ip${attrs(ipAttrs(a))}/>\n`).join('');
      const list = ifaces.get(e.node) ?? [];
      list.push(`    <interface${attrs({ client_id: id, sliver_id: sliverUrn(auth, `${m.slice}/${s.link.id}/${e.node}`) })}${ips ? `>\n${ips}    </interface>` : '/>'}\n`);
      ifaces.set(e.node, list);
    }
    const lan = eps.length > 2;
    const props = eps.flatMap((e) => {
      const p = shapedOnly(e.properties);
      if (!p) return [];
      // A LAN member's direction is what it sends into the LAN (geni-lib's dest_id: the link); on a point-to-point link, the other end.
      const dests = lan || eps.length < 2 ? [s.link.id] : eps.filter((o) => o !== e).map((o) => idOf(s.link.id, o));
      return dests.map((d) => `    <property${attrs({ source_id: idOf(s.link.id, e), dest_id: d, ...propertyAttrs(p) })}/>\n`);
    });
    const l = s.link;
    links.push(`  <link${attrs({ client_id: l.id, sliver_id: sliverUrn(auth, s.id) })}>\n`
      + eps.map((e) => `    <interface_ref${attrs({ client_id: idOf(l.id, e) })}/>\n`).join('')
      + `    <link_type${attrs({ name: linkTypeOf(l.kind) })}/>\n`
      + props.join('')
      + `    <visp:tunnel${attrs({ kind: l.kind, key: l.key || undefined, mtu: l.mtu, state: s.state, guaranteed: l.guaranteed ? 'true' : undefined, ipv4_subnet: l.ipv4Subnet, ipv6_subnet: l.ipv6Subnet, egress_node: l.egress?.node, error: s.error })}/>\n`
      + '  </link>\n');
  }
  const physical = new Map<string, string>();
  for (const s of m.slivers) for (const e of s.endpoints) physical.set(e.node, e.netns);
  const nodes = request.nodes.map((n) => {
    const list = ifaces.get(n.id) ?? [];
    return `  <node${attrs({
      client_id: n.id, component_id: n.rspec?.componentId ?? `urn:publicid:IDN+${auth}+node+${n.node}`,
      component_manager_id: n.rspec?.componentManagerId, sliver_id: sliverUrn(auth, `${m.slice}/${n.id}`), exclusive: 'false',
    })}>\n${list.join('')}    <visp:netns${attrs({ name: physical.get(n.id) ?? n.netns })}/>\n  </node>\n`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<rspec${attrs({
    xmlns: GENI_V3, 'xmlns:visp': VISP_NS, type: 'manifest', generated: now.toISOString(), generated_by: 'visp',
    expires: new Date(m.endTime).toISOString(),
  })}>\n${nodes.join('')}${links.join('')}</rspec>\n`;
}
