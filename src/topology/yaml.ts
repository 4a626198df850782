// The topology file: a small containerlab-like YAML format.
//
//   name: triangle              # the slice id
//   defaults: { mtu: 1400 }     # optional: encapsulation, mtu, class, ipv4, ipv6 for every link
//   nodes:
//     r1: { node: n1 }          # router r1 on physical node n1 (netns: … to name its namespace)
//     r2: n2                    # shorthand for { node: n2 }
//   links:
//     - id: r1-r2               # default: the member ids joined by "-"
//       endpoints: [r1, "r2:eth5", { node: r1, ifname: eth9, ipv4: 192.0.2.9 }]
//       encapsulation: vxlan    # a tunnel kind (vxlan, gre, gretap, …: src/tunnel/registry.ts) | auto (default)
//       ipv4: true              # true | false | { prefix_length: 30 }
//       ipv6: { prefix_length: 64 }
//       mtu: 1400
//       class: local            # public | local | private (default local)
//     - id: upstream            # an egress link: one endpoint, the other end is an egress node
//       endpoints: [r1]
//       egress: { node: e1, routes: full }   # routes: default (the default) | full; default_route: false
//                                            # (class defaults to public: the addresses are announced)
//
// IPv4 is on unless the link (or `defaults`) asks for IPv6 and says nothing
// about IPv4.
//
// This file only reads the YAML: shapes, types, names of choices, the
// shorthands and defaults above. What it reads is the controller's topology
// model, and the controller's validator (src/controller/validate.ts) checks
// it, as it checks a request from the API: a rule is written once. Reading,
// the parser notes where each model field came from (model field
// "topology.links[2].members[1].node" ← the file's "links[2].endpoints[1]"
// at line 14, column 9), so a validation error names the place in the file,
// the file's own field path and the validator's reason:
//   triangle.yaml:14:9: links[2].endpoints[1]: unknown node "r9"
// The validator's error is kept as the cause (its `field` is the model's).
import { isIP } from 'node:net';
import { isMap, isScalar, type Node, type YAMLMap } from 'yaml';
import { ID, ID_RULE } from '../endpoint/names.js';
import { InvalidSpecError } from '../errors.js';
import { ConfigFile, describe } from '../config/reader.js';
import { ADDRESS_CLASSES, type AddressClass } from '../ipam/types.js';
import type { Addressing, Encapsulation, LinkMember, Topology, TopologyLink, TopologyNode } from '../controller/model.js';
import { checkSliceId, validateTopology } from '../controller/validate.js';
import { suggest } from '../suggest.js';
import { ENCAPSULATIONS, type LabEgressNode, type TopologyFile } from './types.js';

export interface ParseOptions {
  /** Shown in error messages before the line number, e.g. "examples/triangle.yaml". */
  file?: string;
}

/** Parse and check a topology file. Throws InvalidSpecError (field = the file's field path) on the first problem. */
export function parseTopology(text: string, opts: ParseOptions = {}): TopologyFile {
  return parseTopologyPlaced(text, opts).value;
}

/**
 * Parse and check a topology file, and keep `place`: it turns an
 * InvalidSpecError about a model field that comes later (a controller's
 * refusal of "topology.links[0].mtu" for the kind it placed) into one naming
 * the place in this file. An error about a field the file does not hold is
 * returned as it is.
 */
export function parseTopologyPlaced(text: string, opts: ParseOptions = {}): { value: TopologyFile; place: (e: InvalidSpecError) => InvalidSpecError } {
  const r = new Reader(new ConfigFile(opts.file ?? '', text));
  const value = r.read();
  try {
    checkSliceId(value.name);
    validateTopology(value.topology);
  } catch (e) {
    throw e instanceof InvalidSpecError ? r.place(e) : e;
  }
  return { value, place: (e) => r.place(e) };
}

// ---- where each model field came from ----

/** The file's field path a reader of the file knows, its node, and what to add to a reason about it. */
interface Origin {
  path: string;
  node: Node | undefined;
  explain?: (reason: string) => string;
}

/** A field path of the model inside a reason ("duplicate link id … (also topology.links[0])"). */
const MODEL_PATH = /\btopology(?:\.[A-Za-z_]+|\[\d+\])+/g;

/** A link without an id gets its endpoints' ids joined by "-"; an error about that id says so. */
const defaultId = (reason: string): string =>
  `${reason}; that is the link's default id (its endpoints joined by "-"): give ${reason.startsWith('duplicate') ? 'one of them' : 'the link'} an id`;

type Family = 'ipv4' | 'ipv6';
/** undefined: not said; false: off; an object: on. */
type Said = Addressing | false | undefined;
/** A family's addressing as written: the value and where (the prefix length's own place, if given). */
interface SaidAt { said: Said; node?: Node; path?: string; prefix?: { node: Node; path: string } }

interface Defaults {
  encapsulation?: Encapsulation;
  mtu?: { value: number; node: Node };
  addressClass?: AddressClass;
  ipv4: SaidAt;
  ipv6: SaidAt;
}

class Reader {
  private readonly origins = new Map<string, Origin>();

  constructor(private readonly cf: ConfigFile) {}

  /** Model field `field` came from the file's `path`, written at `node`. */
  private at(field: string, path: string, node: Node | undefined, explain?: Origin['explain']): void {
    this.origins.set(field, { path, node, ...(explain ? { explain } : {}) });
  }

  place(e: InvalidSpecError): InvalidSpecError {
    const field = e.field;
    if (field === undefined) return e;
    // The field itself, or the nearest field above it that the file holds.
    let o: Origin | undefined;
    for (let f = field; o === undefined && f !== ''; f = f.replace(/(?:\.[^.[\]]+|\[\d+\])$|^[^.[\]]+$/, '')) o = this.origins.get(f);
    if (o === undefined) return e;
    const prefix = `${field}: `;
    let reason = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
    reason = reason.replace(MODEL_PATH, (p) => this.origins.get(p)?.path ?? p);
    if (o.explain) reason = o.explain(reason);
    return new InvalidSpecError(`${this.cf.where(o.node?.range?.[0])}${o.path ? `${o.path}: ` : ''}${reason}`, { field: o.path, cause: e });
  }

  // ---- sections ----

  read(): TopologyFile {
    const cf: ConfigFile = this.cf;
    const root = cf.root;
    if (root === null || root === undefined) cf.fail(undefined, '', 'the file is empty; expected name, nodes and links');
    if (isScalar(root) && typeof root.value === 'string' && root.value.trimStart().startsWith('<')) {
      cf.fail(root, '', 'this looks like XML (a GENI RSpec?); visp topology files are YAML: name, nodes and links (see examples/*.yaml)');
    }
    const top = cf.mapping(root, '');
    cf.checkKeys(top, '', ['name', 'defaults', 'nodes', 'links', 'egress']);
    this.at('topology', '', top);

    const nameNode = this.required(top, '', 'name');
    const name = this.name(nameNode, 'name');
    this.at('slice', 'name', nameNode);
    const defaults = this.defaults(cf.get(top, '', 'defaults'));
    const nodes = this.nodes(this.required(top, '', 'nodes'));
    const links = this.links(this.required(top, '', 'links'), defaults);
    const egNode = cf.get(top, '', 'egress');
    const egress = egNode !== undefined ? this.labEgress(egNode) : undefined;
    const topology: Topology = { nodes, links };
    return { name, topology, ...(egress ? { egress } : {}) };
  }

  private defaults(node: Node | undefined): Defaults {
    if (node === undefined) return { ipv4: { said: undefined }, ipv6: { said: undefined } };
    const cf: ConfigFile = this.cf;
    const m = cf.mapping(node, 'defaults');
    cf.checkKeys(m, 'defaults', ['encapsulation', 'mtu', 'class', 'ipv4', 'ipv6']);
    const d: Defaults = { ipv4: this.addressing(cf.get(m, 'defaults', 'ipv4'), 'defaults.ipv4'), ipv6: this.addressing(cf.get(m, 'defaults', 'ipv6'), 'defaults.ipv6') };
    const enc = cf.get(m, 'defaults', 'encapsulation');
    if (enc !== undefined) d.encapsulation = this.oneOf(enc, 'defaults.encapsulation', ENCAPSULATIONS);
    const mtuNode = cf.get(m, 'defaults', 'mtu');
    if (mtuNode !== undefined) d.mtu = { value: cf.int(mtuNode, 'defaults.mtu'), node: mtuNode };
    const cls = cf.get(m, 'defaults', 'class');
    if (cls !== undefined) d.addressClass = this.oneOf(cls, 'defaults.class', ADDRESS_CLASSES);
    return d;
  }

  private nodes(node: Node): TopologyNode[] {
    const cf: ConfigFile = this.cf;
    const m = cf.mapping(node, 'nodes', 'routers by id, e.g. "r1: { node: n1 }"');
    this.at('topology.nodes', 'nodes', m);
    return m.items.map((pair, i) => {
      const keyNode = pair.key as Node;
      const rid = this.name(keyNode, 'nodes', 'a router id');
      const path = `nodes.${rid}`, field = `topology.nodes[${i}]`;
      this.at(field, path, keyNode);
      this.at(`${field}.id`, 'nodes', keyNode);
      const v = cf.resolve(pair.value as Node | null);
      if (isScalar(v) && typeof v.value === 'string') {
        this.at(`${field}.node`, path, v);
        return { id: rid, node: this.name(v, path, 'a physical node name') };
      }
      if (v === null || v === undefined || (isScalar(v) && v.value === null)) cf.fail(keyNode, path, 'needs its physical node, e.g. "{ node: n1 }"');
      const r = cf.mapping(v, path, 'e.g. "{ node: n1 }"');
      cf.checkKeys(r, path, ['node', 'netns']);
      const nodeNode = this.required(r, path, 'node');
      this.at(`${field}.node`, `${path}.node`, nodeNode);
      const value: TopologyNode = { id: rid, node: this.name(nodeNode, `${path}.node`) };
      const ns = cf.get(r, path, 'netns');
      if (ns !== undefined) {
        this.at(`${field}.netns`, `${path}.netns`, ns);
        value.netns = this.name(ns, `${path}.netns`, 'a namespace name');
      }
      return value;
    });
  }

  private links(node: Node, defaults: Defaults): TopologyLink[] {
    const cf: ConfigFile = this.cf;
    const s = cf.sequence(node, 'links');
    this.at('topology.links', 'links', s);
    return cf.items(s).map((item, i) => {
      const path = `links[${i}]`, field = `topology.links[${i}]`;
      const m = cf.mapping(item, path, 'e.g. "{ endpoints: [r1, r2] }"');
      cf.checkKeys(m, path, ['id', 'endpoints', 'encapsulation', 'ipv4', 'ipv6', 'mtu', 'class', 'egress']);
      this.at(field, path, m);

      const eps = cf.sequence(this.required(m, path, 'endpoints'), `${path}.endpoints`);
      this.at(`${field}.members`, `${path}.endpoints`, eps);
      const members = cf.items(eps).map((e, j) => this.member(e, `${path}.endpoints[${j}]`, `${field}.members[${j}]`));
      const egNode = cf.get(m, path, 'egress');
      const egress = egNode !== undefined ? this.egress(egNode, `${path}.egress`, `${field}.egress`) : undefined;

      const idNode = cf.get(m, path, 'id');
      const id = idNode !== undefined ? this.name(idNode, `${path}.id`) : [...members.map((mb) => mb.node), ...(egress ? [egress.node] : [])].join('-');
      this.at(`${field}.id`, `${path}.id`, idNode ?? m, idNode === undefined ? defaultId : undefined);

      // A value from `defaults` is placed where it is written when the
      // value itself is wrong (mtu, prefix length), at the link when only the
      // link makes it wrong (a layer-3 kind on a LAN).
      const encNode = cf.get(m, path, 'encapsulation');
      const encapsulation = encNode !== undefined ? this.oneOf(encNode, `${path}.encapsulation`, ENCAPSULATIONS) : defaults.encapsulation ?? 'auto';
      this.at(`${field}.encapsulation`, `${path}.encapsulation`, encNode ?? m);
      const mtuNode = cf.get(m, path, 'mtu');
      const mtu = mtuNode !== undefined ? { value: cf.int(mtuNode, `${path}.mtu`), node: mtuNode, path: `${path}.mtu` } : defaults.mtu && { ...defaults.mtu, path: 'defaults.mtu' };
      if (mtu) this.at(`${field}.mtu`, mtu.path, mtu.node);
      const clsNode = cf.get(m, path, 'class');
      // An egress link's addresses are announced upstream: public unless said otherwise (validation then refuses).
      const addressClass = clsNode !== undefined ? this.oneOf(clsNode, `${path}.class`, ADDRESS_CLASSES) : egress ? 'public' : defaults.addressClass ?? 'local';
      this.at(`${field}.address_class`, `${path}.class`, clsNode ?? m);

      const said: Record<Family, SaidAt> = { ipv4: { said: undefined }, ipv6: { said: undefined } };
      for (const fam of ['ipv4', 'ipv6'] as const) {
        const own = this.addressing(cf.get(m, path, fam), `${path}.${fam}`);
        said[fam] = own.said !== undefined ? own : defaults[fam].said === undefined ? { said: undefined } : { ...defaults[fam], said: defaults[fam].said && { ...defaults[fam].said } };
        this.at(`${field}.${fam}`, `${path}.${fam}`, own.node ?? m);
        const pl = said[fam].prefix;
        if (pl) this.at(`${field}.${fam}.prefix_length`, pl.path, pl.node);
      }
      // An explicit address asks for its family, unless the family is switched off.
      for (const fam of ['ipv4', 'ipv6'] as const) {
        if (said[fam].said === undefined && members.some((mb) => mb[fam] !== undefined)) said[fam] = { said: {} };
      }
      if (said.ipv4.said === undefined && !said.ipv6.said) said.ipv4 = { said: {} };

      const link: TopologyLink = { id, members, encapsulation, addressClass };
      if (mtu) link.mtu = mtu.value;
      if (said.ipv4.said) link.ipv4 = said.ipv4.said;
      if (said.ipv6.said) link.ipv6 = said.ipv6.said;
      if (egress) link.egress = egress;
      return link;
    });
  }

  /** { node: e1, routes: default | full, default_route: true | false } */
  private egress(node: Node, path: string, field: string): NonNullable<TopologyLink['egress']> {
    const cf: ConfigFile = this.cf;
    const m = cf.mapping(node, path, 'e.g. "{ node: e1, routes: full }"');
    cf.checkKeys(m, path, ['node', 'routes', 'default_route']);
    this.at(field, path, m);
    const egNode = this.required(m, path, 'node');
    this.at(`${field}.node`, `${path}.node`, egNode);
    const eg = this.name(egNode, `${path}.node`, 'a node name');
    const r = cf.get(m, path, 'routes');
    this.at(`${field}.routes`, `${path}.routes`, r ?? m);
    const routes = r !== undefined ? this.oneOf(r, `${path}.routes`, ['default', 'full'] as const) : 'default';
    const d = cf.get(m, path, 'default_route');
    let defaultRoute = true;
    if (d !== undefined) {
      if (!isScalar(d) || typeof d.value !== 'boolean') cf.fail(d, `${path}.default_route`, `must be true or false, got ${describe(d)}`);
      defaultRoute = d.value;
    }
    return { node: eg, routes, defaultRoute };
  }

  /** "r1", "r1:eth5" or { node, ifname, ipv4, ipv6 }. */
  private member(node: Node, path: string, field: string): LinkMember {
    const cf: ConfigFile = this.cf;
    this.at(field, path, node);
    if (isScalar(node) && (typeof node.value === 'string' || (typeof node.value === 'number' && Number.isInteger(node.value)))) {
      const text = String(node.value);
      const colon = text.indexOf(':');
      this.at(`${field}.node`, path, node);
      this.at(`${field}.ifname`, path, node);
      return colon < 0 ? { node: text } : { node: text.slice(0, colon), ifname: text.slice(colon + 1) };
    }
    const m = cf.mapping(node, path, 'a router id, "router:ifname" or { node, ifname, ipv4, ipv6 }');
    cf.checkKeys(m, path, ['node', 'ifname', 'ipv4', 'ipv6']);
    const nodeAt = this.required(m, path, 'node');
    this.at(`${field}.node`, path, nodeAt);
    const out: LinkMember = { node: this.str(nodeAt, `${path}.node`) };
    const ifNode = cf.get(m, path, 'ifname');
    this.at(`${field}.ifname`, path, ifNode ?? m);
    if (ifNode !== undefined) out.ifname = this.str(ifNode, `${path}.ifname`);
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const a = cf.get(m, path, fam);
      if (a === undefined) continue;
      this.at(`${field}.${fam}`, `${path}.${fam}`, a);
      out[fam] = this.str(a, `${path}.${fam}`);
    }
    return out;
  }

  /** true | false | { prefix_length: N } */
  private addressing(node: Node | undefined, path: string): SaidAt {
    if (node === undefined) return { said: undefined };
    if (isScalar(node) && typeof node.value === 'boolean') return { said: node.value ? {} : false, node, path };
    if (!isMap(node)) this.cf.fail(node, path, 'expected true, false or { prefix_length: N }');
    this.cf.checkKeys(node, path, ['prefix_length']);
    const plNode = this.cf.get(node, path, 'prefix_length');
    if (plNode === undefined) return { said: {}, node, path };
    const plPath = `${path}.prefix_length`;
    return { said: { prefixLength: this.cf.int(plNode, plPath) }, node, path, prefix: { node: plNode, path: plPath } };
  }

  /** Lab mode: `egress: { e1: { asn: 64500, providers: [{ name: isp-a, asn: 64501 }] } }`. Only the lab reads it, so it is checked here. */
  private labEgress(node: Node): LabEgressNode[] {
    const cf: ConfigFile = this.cf;
    const m = cf.mapping(node, 'egress', 'egress nodes by name, e.g. "e1: { asn: 64500, providers: [{ name: isp-a, asn: 64501 }] }"');
    const names = new Set<string>();
    return m.items.map((pair) => {
      const eg = this.id(pair.key as Node, 'egress', 'a node name');
      const path = `egress.${eg}`;
      const r = cf.mapping(cf.resolve(pair.value as Node | null), path, 'e.g. "{ asn: 64500, providers: [{ name: isp-a, asn: 64501 }] }"');
      cf.checkKeys(r, path, ['asn', 'router_id', 'providers']);
      const asnNode = this.required(r, path, 'asn');
      const asn = cf.int(asnNode, `${path}.asn`);
      if (asn < 1 || asn > 0xffffffff) cf.fail(asnNode, `${path}.asn`, `${asn} is not an ASN (1–4294967295)`);
      const out: LabEgressNode = { node: eg, asn, providers: [] };
      const rid = cf.get(r, path, 'router_id');
      if (rid !== undefined) {
        const text = this.str(rid, `${path}.router_id`);
        if (isIP(text) !== 4) cf.fail(rid, `${path}.router_id`, `${JSON.stringify(text)} is not a dotted quad (BGP router ids are 32 bits)`);
        out.routerId = text;
      }
      const provs = cf.sequence(this.required(r, path, 'providers'), `${path}.providers`);
      cf.items(provs).forEach((item, i) => {
        const pp = `${path}.providers[${i}]`;
        const pm = cf.mapping(item, pp, 'e.g. "{ name: isp-a, asn: 64501 }"');
        cf.checkKeys(pm, pp, ['name', 'asn']);
        const nameNode = this.required(pm, pp, 'name');
        const pname = this.id(nameNode, `${pp}.name`, 'a provider name');
        if (names.has(pname)) cf.fail(nameNode, `${pp}.name`, `duplicate provider name "${pname}"`);
        names.add(pname);
        const pasnNode = this.required(pm, pp, 'asn');
        const pasn = cf.int(pasnNode, `${pp}.asn`);
        if (pasn < 1 || pasn > 0xffffffff || pasn === asn) cf.fail(pasnNode, `${pp}.asn`, pasn === asn ? `providers are eBGP peers; ${pasn} is the egress node's own ASN` : `${pasn} is not an ASN`);
        out.providers.push({ name: pname, asn: pasn });
      });
      return out;
    });
  }

  // ---- values ----

  private required(m: YAMLMap<unknown, unknown>, path: string, key: string): Node {
    const v = this.cf.get(m, path, key);
    if (v === undefined) this.cf.fail(m, path ? `${path}.${key}` : key, 'is required');
    return v;
  }

  private str(node: Node, path: string): string {
    if (!isScalar(node) || typeof node.value !== 'string') this.cf.fail(node, path, `expected a string, got ${describe(node)}`);
    return node.value;
  }

  /** A name (id) as text: integers are quietly accepted (`node: 1`); the id rule is the validator's. */
  private name(node: Node, path: string, what = 'an id'): string {
    const v = isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value) ? String(node.value) : undefined;
    const text = v ?? (isScalar(node) && typeof node.value === 'string' ? node.value : undefined);
    if (text === undefined) this.cf.fail(node, path, `expected ${what}, got ${describe(node)}`);
    return text;
  }

  /** A name the validator never sees (lab egress): the id rule checked here. */
  private id(node: Node, path: string, what: string): string {
    const text = this.name(node, path, what);
    if (!ID.test(text)) this.cf.fail(node, path, `${JSON.stringify(text)} ${ID_RULE}`);
    return text;
  }

  private oneOf<T extends string>(node: Node, path: string, choices: readonly T[]): T {
    const text = isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
    if (text !== undefined && (choices as readonly string[]).includes(text)) return text as T;
    const near = text !== undefined ? suggest(text, choices) : undefined;
    this.cf.fail(node, path, `${text !== undefined ? JSON.stringify(text) : describe(node)} is not one of ${choices.join(', ')}${near ? ` (did you mean "${near}"?)` : ''}`);
  }
}
