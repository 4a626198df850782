// A GENI RSpec v3 request → the controller's topology model (the one model;
// the controller's validator checks it as it checks any request).
//
//   <node client_id="r1" component_id="urn:publicid:IDN+site+node+n1">   router r1 on physical node n1
//     <interface client_id="r1:if0"><ip address="192.0.2.1" netmask="255.255.255.0" type="ipv4"/></interface>
//   </node>
//   <link client_id="l1">                                                  link l1 (its id)
//     <interface_ref client_id="r1:if0"/> <interface_ref client_id="r2:if0"/>
//     <link_type name="egre-tunnel"/>                                      lan (or none): auto; gre-tunnel: gre;
//                                                                          egre-tunnel: gretap; vxlan; or a visp kind
//     <property source_id="r1:if0" dest_id="r2:if0" capacity="10000" latency="20" packet_loss="0.01"/>
//   </link>                                                                kbit/s, ms, fraction: what r1 sends
//
// An interface "NODE:NAME" whose NAME is a Linux interface name becomes that
// interface in the router's namespace (jFed's "node0:if0" is if0); other
// client_ids get visp's eth1, eth2, …. A property is the sending direction
// of its source_id's member; its dest_id is another member or (as geni-lib
// writes for a LAN) the link itself: visp shapes what a member sends into
// the link, so different values from one source to different members of a
// LAN are refused (docs/rspec.md). What visp does not model is ignored with
// a warning or refused, by the rule in elements.ts.
//
// Every model field is noted with the element it came from, so that an
// error about it — the validator's here, or the controller's at Allocate
// (no netem on a node, a node's capacity taken) — names the line and the
// element: `request.xml:31:7: <property source_id="r1:if0">: topology.links[0].members[0].properties.loss: …`.
import { isIP } from 'node:net';
import type { Element } from '@xmldom/xmldom';
import { IncompatibleStateError, InvalidSpecError, PoolExhaustedError, VispError } from '../errors.js';
import type { Addressing, LinkMember, Topology, TopologyLink, TopologyNode } from '../controller/model.js';
import { validateTopology } from '../controller/validate.js';
import { ifnameProblem } from '../endpoint/names.js';
import { shapedOnly, type LinkProperties } from '../shape/properties.js';
import { isTunnelKind, TUNNEL_KINDS } from '../tunnel/kinds.js';
import { refusedSliverType, verdict } from './elements.js';
import { LINK_TYPES } from './link-types.js';
import { attr, childElements, GENI_V3, parseXml, refuse, tag, where } from './xml.js';

/** What a request RSpec said, as plain data (it crosses from the reader's thread, reader-thread.ts). */
export interface RequestRspecData {
  topology: Topology;
  /** One line per kind of element ignored (docs/rspec.md), with its place. */
  warnings: string[];
  /** Model field → "SOURCE:LINE:COL: <tag …>" of the element it came from. */
  origins: Array<[string, string]>;
}

export interface RequestRspec extends RequestRspecData {
  /** An error about a model field ("topology.links[0]…") named by the element it came from; others as they are. */
  place: (e: unknown) => unknown;
}

/** The physical node a component_id names: urn:publicid:IDN+AUTHORITY+node+NAME → NAME. */
const NODE_URN = /^urn:publicid:IDN\+[^+]+\+node\+([^+]+)$/;

type Family = 'ipv4' | 'ipv6';

/** Read and check a request RSpec (`source` names it in errors: a file name, or the API's field). */
export function parseRequestRspec(text: string, opts: { source?: string } = {}): RequestRspec {
  return withPlace(readRequestRspec(text, opts));
}

/** parseRequestRspec's work, its answer as plain data. Synchronous: about 0.5 ms per kB here (see reader-thread.ts). */
export function readRequestRspec(text: string, opts: { source?: string } = {}): RequestRspecData {
  const r = new RequestReader(opts.source ?? 'request_rspec');
  const topology = r.read(text);
  const origins = r.originList();
  try {
    validateTopology(topology);
  } catch (e) {
    throw placeAt(origins, e);
  }
  return { topology, warnings: r.warnings(), origins };
}

export const withPlace = (d: RequestRspecData): RequestRspec => ({ ...d, place: (e) => placeAt(d.origins, e) });

/** An error about a model field, named by the element it came from (the longest field noted that the error's field starts with). */
export function placeAt(origins: ReadonlyArray<readonly [string, string]>, e: unknown): unknown {
  if (!(e instanceof VispError) || !e.field?.startsWith('topology')) return e;
  const f = e.field;
  let best: readonly [string, string] | undefined;
  for (const o of origins) {
    const k = o[0];
    if ((f === k || f.startsWith(`${k}.`) || f.startsWith(`${k}[`)) && (!best || k.length > best[0].length)) best = o;
  }
  if (!best) return e;
  const message = `${best[1]}: ${e.message}`;
  const opts = { field: f, cause: e };
  if (e instanceof InvalidSpecError) return new InvalidSpecError(message, opts);
  if (e instanceof IncompatibleStateError) return new IncompatibleStateError(message, opts);
  if (e instanceof PoolExhaustedError) return new PoolExhaustedError(message, opts);
  return e;
}

interface Iface { el: Element; node: string; member: Omit<LinkMember, 'node'>; ips: Partial<Record<Family, { el: Element; prefix?: number }>>; used?: string }

class RequestReader {
  /** Model field → the element it came from. */
  private readonly origins = new Map<string, Element>();
  private readonly ignored = new Map<string, { el: Element; n: number; why: string }>();

  constructor(private readonly source: string) {}

  read(text: string): Topology {
    const doc = parseXml(text, this.source);
    const root = doc.documentElement!;
    if (root.localName !== 'rspec' || root.namespaceURI !== GENI_V3) {
      refuse(this.source, root, `not a GENI v3 RSpec: the root must be <rspec xmlns="${GENI_V3}">${root.localName === 'rspec' ? `, its namespace is ${root.namespaceURI ?? 'none'}` : ''}`);
    }
    const type = attr(root, 'type');
    if (type !== undefined && type !== 'request') refuse(this.source, root, `type="${type}": visp takes a request RSpec`);
    const nodes: TopologyNode[] = [];
    const ifaces = new Map<string, Iface>();
    const linkEls: Element[] = [];
    let manager: { id: string; el: Element } | undefined;
    for (const el of childElements(root)) {
      if (el.namespaceURI === GENI_V3 && el.localName === 'node') {
        const n = this.node(el, nodes.length, ifaces);
        const cm = n.rspec?.componentManagerId;
        if (cm !== undefined) {
          if (manager && manager.id !== cm) refuse(this.source, el, `component_manager_id="${cm}", while ${tag(manager.el)} (line ${manager.el.lineNumber}) is on "${manager.id}": a request across aggregates (stitching) is not something visp builds`);
          manager ??= { id: cm, el };
        }
        nodes.push(n);
      } else if (el.namespaceURI === GENI_V3 && el.localName === 'link') linkEls.push(el);
      else this.other(el, 'rspec');
    }
    const links = linkEls.map((el, i) => this.link(el, i, ifaces));
    for (const f of ifaces.values()) if (!f.used) this.ignore(f.el, 'an interface on no link: nothing to build for it');
    return { nodes, links };
  }

  private node(el: Element, i: number, ifaces: Map<string, Iface>): TopologyNode {
    const id = this.required(el, 'client_id');
    const componentId = attr(el, 'component_id');
    if (componentId === undefined) {
      refuse(this.source, el, 'no component_id: visp puts each router on the physical node the request binds it to (component_id="urn:publicid:IDN+AUTHORITY+node+NAME", NAME a node ListResources shows); bind it');
    }
    const m = NODE_URN.exec(componentId);
    if (!m) refuse(this.source, el, `component_id="${componentId}" is not a node URN (urn:publicid:IDN+AUTHORITY+node+NAME)`);
    const cm = attr(el, 'component_manager_id');
    // A URN's name part may be percent-encoded; a broken escape is the request's mistake, not ours (decodeURIComponent throws a URIError).
    let node: string;
    try {
      node = decodeURIComponent(m[1]!);
    } catch {
      refuse(this.source, el, `component_id="${componentId}": its node name has a broken %-escape`);
    }
    const n: TopologyNode = { id, node, rspec: { componentId, ...(cm !== undefined ? { componentManagerId: cm } : {}) } };
    this.origins.set(`topology.nodes[${i}]`, el);
    for (const c of childElements(el)) {
      if (c.namespaceURI === GENI_V3 && c.localName === 'interface') this.iface(c, id, ifaces);
      else if (c.namespaceURI === GENI_V3 && c.localName === 'sliver_type') {
        const no = refusedSliverType(attr(c, 'name') ?? null);
        if (no) refuse(this.source, c, no.why);
        this.other(c, 'node');
      } else this.other(c, 'node');
    }
    return n;
  }

  private iface(el: Element, node: string, ifaces: Map<string, Iface>): void {
    const id = this.required(el, 'client_id');
    const prev = ifaces.get(id);
    if (prev) refuse(this.source, el, `client_id "${id}" is already the interface at line ${prev.el.lineNumber}`);
    // "NODE:NAME" with NAME a Linux interface name: that name in the router's namespace.
    const name = id.startsWith(`${node}:`) ? id.slice(node.length + 1) : undefined;
    const f: Iface = { el, node, member: { rspecInterface: id, ...(name && name !== 'lo' && !ifnameProblem(name) ? { ifname: name } : {}) }, ips: {} };
    for (const c of childElements(el)) {
      if (c.namespaceURI === GENI_V3 && c.localName === 'ip') this.ip(c, f);
      else this.other(c, 'interface');
    }
    ifaces.set(id, f);
  }

  private ip(el: Element, f: Iface): void {
    const address = this.required(el, 'address');
    const v = isIP(address);
    if (!v) refuse(this.source, el, `address="${address}" is not an IP address`);
    const type = attr(el, 'type')?.toLowerCase();
    const fam: Family = v === 4 ? 'ipv4' : 'ipv6';
    if (type !== undefined && type !== fam) refuse(this.source, el, `type="${type}" but ${address} is an ${fam === 'ipv4' ? 'IPv4' : 'IPv6'} address`);
    if (f.ips[fam]) refuse(this.source, el, `the interface already has an ${fam} address (line ${f.ips[fam]!.el.lineNumber}); visp gives an interface one of each family`);
    const netmask = attr(el, 'netmask');
    const prefix = netmask === undefined || netmask === '' ? undefined : prefixOf(netmask, fam);
    if (typeof prefix === 'string') refuse(this.source, el, `netmask="${netmask}" ${prefix}`);
    f.member[fam] = address;
    f.ips[fam] = { el, ...(prefix !== undefined ? { prefix } : {}) };
  }

  private link(el: Element, i: number, ifaces: Map<string, Iface>): TopologyLink {
    const id = this.required(el, 'client_id');
    const f = `topology.links[${i}]`;
    this.origins.set(f, el);
    const members: Iface[] = [];
    const props: Array<{ el: Element; source: string; dest: string; p: LinkProperties }> = [];
    let encapsulation: TopologyLink['encapsulation'] = 'auto';
    let typed: Element | undefined;
    const managers = new Map<string, Element>();
    for (const c of childElements(el)) {
      const geni = c.namespaceURI === GENI_V3;
      if (geni && c.localName === 'interface_ref') {
        const ref = this.required(c, 'client_id');
        const ifc = ifaces.get(ref);
        if (!ifc) refuse(this.source, c, `no <interface client_id="${ref}"> in any node`);
        if (ifc.used) refuse(this.source, c, `interface "${ref}" is already on link "${ifc.used}"; an interface is on one link`);
        ifc.used = id;
        this.origins.set(`${f}.members[${members.length}]`, c);
        members.push(ifc);
      } else if (geni && c.localName === 'link_type') {
        const name = this.required(c, 'name');
        if (typed) refuse(this.source, c, `a second link_type (the first is at line ${typed.lineNumber})`);
        const enc = LINK_TYPES[name] ?? (isTunnelKind(name) ? name : undefined);
        if (!enc) refuse(this.source, c, `link_type "${name}" is not one visp builds (${Object.keys(LINK_TYPES).join(', ')}, or a visp kind: ${TUNNEL_KINDS.join(', ')})`);
        encapsulation = enc;
        typed = c;
        this.origins.set(`${f}.encapsulation`, c);
      } else if (geni && c.localName === 'property') {
        props.push({ el: c, source: this.required(c, 'source_id'), dest: this.required(c, 'dest_id'), p: this.property(c) });
      } else if (geni && c.localName === 'component_manager') {
        managers.set(this.required(c, 'name'), c);
        if (managers.size > 1) refuse(this.source, c, `a second component_manager ("${[...managers.keys()].join('", "')}"): a link across aggregates (stitching) is not something visp builds`);
      } else this.other(c, 'link');
    }
    const ids = members.map((m) => m.member.rspecInterface!);
    // Each member's sending direction, from the properties whose source it is.
    const sends = new Map<string, { el: Element; p: LinkProperties; dest: string }>();
    for (const x of props) {
      if (!ids.includes(x.source)) refuse(this.source, x.el, `source_id "${x.source}" is not an interface on link "${id}" (${ids.join(', ')})`);
      if (x.dest !== id && (!ids.includes(x.dest) || x.dest === x.source)) {
        refuse(this.source, x.el, `dest_id "${x.dest}" is neither another interface on link "${id}" (${ids.filter((s) => s !== x.source).join(', ')}) nor the link itself`);
      }
      const before = sends.get(x.source);
      if (before && !sameProperties(before.p, x.p)) {
        refuse(this.source, x.el, `what "${x.source}" sends is given differently towards "${before.dest}" (line ${before.el.lineNumber}) and "${x.dest}": visp shapes what a member sends into the link, the same towards every other member (docs/rspec.md)`);
      }
      if (!before) sends.set(x.source, { el: x.el, p: x.p, dest: x.dest });
    }
    const link: TopologyLink = {
      id, encapsulation, addressClass: 'local',
      members: members.map((m, j) => {
        const s = sends.get(m.member.rspecInterface!);
        const p = shapedOnly(s?.p);
        if (s) this.origins.set(`${f}.members[${j}].properties`, s.el);
        for (const fam of ['ipv4', 'ipv6'] as const) if (m.ips[fam]) this.origins.set(`${f}.members[${j}].${fam}`, m.ips[fam]!.el);
        return { node: m.node, ...m.member, ...(p ? { properties: p } : {}) };
      }),
    };
    // Addressing: IPv4 unless only IPv6 addresses are given; a prefix length from the members' netmasks, which must agree.
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const given = members.filter((m) => m.ips[fam]);
      if (!given.length) continue;
      const a: Addressing = {};
      for (const m of given) {
        const ip = m.ips[fam]!;
        if (ip.prefix === undefined) continue;
        if (a.prefixLength !== undefined && a.prefixLength !== ip.prefix) refuse(this.source, ip.el, `/${ip.prefix}, while another member of link "${id}" has /${a.prefixLength}: a link is one subnet`);
        if (a.prefixLength === undefined) this.origins.set(`${f}.${fam}`, ip.el);
        a.prefixLength = ip.prefix;
      }
      link[fam] = a;
    }
    if (!link.ipv4 && !link.ipv6) link.ipv4 = {};
    return link;
  }

  /** A property element's values in visp's units (kbit/s → bit/s, ms → µs; packet_loss is a fraction in both). */
  private property(el: Element): LinkProperties {
    const num = (name: string): number | undefined => {
      const v = attr(el, name);
      if (v === undefined || v.trim() === '') return undefined;
      if (!/^\s*\d+(\.\d+)?([eE][-+]?\d+)?\s*$/.test(v)) refuse(this.source, el, `${name}="${v}" is not a number (${name === 'capacity' ? 'kbit/s' : name === 'latency' ? 'ms' : 'a fraction, 0–1'})`);
      return Number(v);
    };
    const capacity = num('capacity');
    const latency = num('latency');
    const loss = num('packet_loss');
    return {
      // A capacity above 0 that rounds to 0 bit/s stays above 0, so the validator refuses it (0 would mean unshaped: the opposite of what was asked).
      ...(capacity !== undefined ? { capacity: capacity > 0 ? Math.max(1, Math.round(capacity * 1000)) : 0 } : {}),
      ...(latency !== undefined ? { latency: Math.round(latency * 1000) } : {}),
      ...(loss !== undefined ? { loss } : {}),
    };
  }

  private required(el: Element, name: string): string {
    const v = attr(el, name);
    if (v === undefined || v === '') refuse(this.source, el, `${name} is required`);
    return v;
  }

  /** An element the reader does not model: ignored with a warning, or refused (elements.ts). */
  private other(el: Element, context: 'rspec' | 'node' | 'interface' | 'link'): void {
    const v = verdict(el, context);
    if (v.action === 'refuse') refuse(this.source, el, v.why);
    this.ignore(el, v.why);
  }

  private ignore(el: Element, why: string): void {
    const key = `${el.tagName}\n${why}`;
    const seen = this.ignored.get(key);
    if (seen) seen.n++;
    else this.ignored.set(key, { el, n: 1, why });
  }

  warnings(): string[] {
    return [...this.ignored.values()].map(({ el, n, why }) => `${where(this.source, el)}: ${tag(el)}: ignored${n > 1 ? ` (and ${n - 1} more like it)` : ''}: ${why}`);
  }

  originList(): Array<[string, string]> {
    return [...this.origins].map(([k, el]) => [k, `${where(this.source, el)}: ${tag(el)}`]);
  }
}

function sameProperties(a: LinkProperties, b: LinkProperties): boolean {
  return JSON.stringify(shapedOnly(a) ?? {}) === JSON.stringify(shapedOnly(b) ?? {});
}

/** A prefix length from a netmask: dotted (IPv4) or a length; or why not. */
function prefixOf(netmask: string, fam: Family): number | string {
  const t = netmask.trim();
  if (/^\d{1,3}$/.test(t)) {
    const n = Number(t);
    return n <= (fam === 'ipv4' ? 32 : 128) ? n : `is longer than an ${fam} address`;
  }
  if (fam === 'ipv4' && isIP(t) === 4) {
    const bits = t.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
    return /^1*0*$/.test(bits) ? bits.indexOf('0') < 0 ? 32 : bits.indexOf('0') : 'is not a contiguous netmask';
  }
  return `is not a netmask (${fam === 'ipv4' ? '255.255.255.0 or 24' : 'a prefix length, e.g. 64'})`;
}
