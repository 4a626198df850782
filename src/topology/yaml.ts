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
// about IPv4. Errors name the place, the field path and the reason:
//   triangle.yaml:14:9: links[2].endpoints[1]: unknown node "r9"
import { isIP } from 'node:net';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type YAMLMap } from 'yaml';
import { ifnameProblem } from '../endpoint/names.js';
import { InvalidSpecError } from '../errors.js';
import { describe } from '../config/reader.js';
import { ADDRESS_CLASSES, type AddressClass } from '../ipam/types.js';
import { isLayer3, LAYER2_KINDS, wordsOr } from '../tunnel/kinds.js';
import { ENCAPSULATIONS, type Addressing, type Encapsulation, type LabEgressNode, type LinkMember, type Topology, type TopologyLink, type TopologyNode } from './types.js';

/** Ids of slices, routers, physical nodes, links and namespaces (the controller's rule). */
export const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const ID_RULE = 'must be 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit';
const MTU_MIN = 576, MTU_MAX = 9000;
const PREFIX_RANGE = { ipv4: [16, 31], ipv6: [48, 127] } as const;

type Family = 'ipv4' | 'ipv6';
/** undefined: not said; false: off; an object: on. */
type Said = Addressing | false | undefined;

interface Ctx {
  doc: Document;
  lc: LineCounter;
  file?: string;
}

export interface ParseOptions {
  /** Shown in error messages before the line number, e.g. "examples/triangle.yaml". */
  file?: string;
}

/** Parse and check a topology file. Throws InvalidSpecError (field = the path) on the first problem. */
export function parseTopology(text: string, opts: ParseOptions = {}): Topology {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: true });
  const ctx: Ctx = { doc, lc, ...(opts.file !== undefined ? { file: opts.file } : {}) };
  const first = doc.errors[0];
  if (first) throw new InvalidSpecError(`${where(ctx, first.pos[0])}${first.message.split('\n')[0]}`, { field: '' });
  const root = resolve(ctx, doc.contents);
  if (root === null || root === undefined) fail(ctx, undefined, '', 'the file is empty; expected name, nodes and links');
  if (isScalar(root) && typeof root.value === 'string' && root.value.trimStart().startsWith('<')) {
    fail(ctx, root, '', 'this looks like XML (a GENI RSpec?); visp topology files are YAML: name, nodes and links (see examples/*.yaml)');
  }
  const top = mapping(ctx, root, '');
  checkKeys(ctx, top, '', ['name', 'defaults', 'nodes', 'links', 'egress']);

  const nameNode = required(ctx, top, '', 'name');
  const name = id(ctx, nameNode, 'name');
  const defaults = parseDefaults(ctx, get(ctx, top, '', 'defaults'));
  const nodes = parseNodes(ctx, required(ctx, top, '', 'nodes'));
  const links = parseLinks(ctx, required(ctx, top, '', 'links'), nodes, defaults);
  const egNode = get(ctx, top, '', 'egress');
  const egress = egNode !== undefined ? parseLabEgress(ctx, egNode) : undefined;
  return { name, nodes: [...nodes.values()].map((n) => n.value), links, ...(egress ? { egress } : {}) };
}

/** Lab mode: `egress: { e1: { asn: 64500, providers: [{ name: isp-a, asn: 64501 }] } }`. */
function parseLabEgress(ctx: Ctx, node: Node): LabEgressNode[] {
  const m = mapping(ctx, node, 'egress', 'egress nodes by name, e.g. "e1: { asn: 64500, providers: [{ name: isp-a, asn: 64501 }] }"');
  const names = new Set<string>();
  return m.items.map((pair) => {
    const eg = id(ctx, pair.key as Node, 'egress', 'a node name');
    const path = `egress.${eg}`;
    const r = mapping(ctx, resolve(ctx, pair.value as Node | null), path, 'e.g. "{ asn: 64500, providers: [{ name: isp-a, asn: 64501 }] }"');
    checkKeys(ctx, r, path, ['asn', 'router_id', 'providers']);
    const asnNode = required(ctx, r, path, 'asn');
    const asn = int(ctx, asnNode, `${path}.asn`);
    if (asn < 1 || asn > 0xffffffff) fail(ctx, asnNode, `${path}.asn`, `${asn} is not an ASN (1–4294967295)`);
    const out: LabEgressNode = { node: eg, asn, providers: [] };
    const rid = get(ctx, r, path, 'router_id');
    if (rid !== undefined) {
      const text = str(ctx, rid, `${path}.router_id`);
      if (isIP(text) !== 4) fail(ctx, rid, `${path}.router_id`, `${JSON.stringify(text)} is not a dotted quad (BGP router ids are 32 bits)`);
      out.routerId = text;
    }
    const provs = sequence(ctx, required(ctx, r, path, 'providers'), `${path}.providers`);
    provs.items.forEach((item, i) => {
      const pp = `${path}.providers[${i}]`;
      const pm = mapping(ctx, resolve(ctx, item as Node), pp, 'e.g. "{ name: isp-a, asn: 64501 }"');
      checkKeys(ctx, pm, pp, ['name', 'asn']);
      const nameNode = required(ctx, pm, pp, 'name');
      const pname = id(ctx, nameNode, `${pp}.name`, 'a provider name');
      if (names.has(pname)) fail(ctx, nameNode, `${pp}.name`, `duplicate provider name "${pname}"`);
      names.add(pname);
      const pasnNode = required(ctx, pm, pp, 'asn');
      const pasn = int(ctx, pasnNode, `${pp}.asn`);
      if (pasn < 1 || pasn > 0xffffffff || pasn === asn) fail(ctx, pasnNode, `${pp}.asn`, pasn === asn ? `providers are eBGP peers; ${pasn} is the egress node's own ASN` : `${pasn} is not an ASN`);
      out.providers.push({ name: pname, asn: pasn });
    });
    return out;
  });
}

// ---- sections ----

interface Defaults {
  encapsulation?: Encapsulation;
  mtu?: number;
  addressClass?: AddressClass;
  ipv4: Said;
  ipv6: Said;
}

function parseDefaults(ctx: Ctx, node: Node | undefined): Defaults {
  if (node === undefined) return { ipv4: undefined, ipv6: undefined };
  const m = mapping(ctx, node, 'defaults');
  checkKeys(ctx, m, 'defaults', ['encapsulation', 'mtu', 'class', 'ipv4', 'ipv6']);
  const d: Defaults = { ipv4: addressing(ctx, get(ctx, m, 'defaults', 'ipv4'), 'defaults.ipv4'), ipv6: addressing(ctx, get(ctx, m, 'defaults', 'ipv6'), 'defaults.ipv6') };
  const enc = get(ctx, m, 'defaults', 'encapsulation');
  if (enc !== undefined) d.encapsulation = oneOf(ctx, enc, 'defaults.encapsulation', ENCAPSULATIONS);
  const mtuNode = get(ctx, m, 'defaults', 'mtu');
  if (mtuNode !== undefined) d.mtu = mtu(ctx, mtuNode, 'defaults.mtu');
  const cls = get(ctx, m, 'defaults', 'class');
  if (cls !== undefined) d.addressClass = oneOf(ctx, cls, 'defaults.class', ADDRESS_CLASSES);
  return d;
}

interface Placed { value: TopologyNode; at: Node }

function parseNodes(ctx: Ctx, node: Node): Map<string, Placed> {
  const m = mapping(ctx, node, 'nodes', 'routers by id, e.g. "r1: { node: n1 }"');
  if (m.items.length === 0) fail(ctx, m, 'nodes', 'at least one node is required');
  const out = new Map<string, Placed>();
  const netnsUsers = new Map<string, string>();
  for (const pair of m.items) {
    const keyNode = pair.key as Node;
    const rid = id(ctx, keyNode, 'nodes', 'a router id');
    const path = `nodes.${rid}`;
    const v = resolve(ctx, pair.value as Node | null);
    let value: TopologyNode;
    if (isScalar(v) && typeof v.value === 'string') {
      value = { id: rid, node: id(ctx, v, path, 'a physical node name') };
    } else {
      if (v === null || v === undefined || (isScalar(v) && v.value === null)) fail(ctx, keyNode, path, 'needs its physical node, e.g. "{ node: n1 }"');
      const r = mapping(ctx, v, path, 'e.g. "{ node: n1 }"');
      checkKeys(ctx, r, path, ['node', 'netns']);
      value = { id: rid, node: id(ctx, required(ctx, r, path, 'node'), `${path}.node`) };
      const ns = get(ctx, r, path, 'netns');
      if (ns !== undefined) {
        const netns = id(ctx, ns, `${path}.netns`, 'a namespace name');
        const other = netnsUsers.get(netns);
        if (other !== undefined) fail(ctx, ns, `${path}.netns`, `namespace "${netns}" is already used by node "${other}"`);
        netnsUsers.set(netns, rid);
        value.netns = netns;
      }
    }
    out.set(rid, { value, at: keyNode });
  }
  return out;
}

function parseLinks(ctx: Ctx, node: Node, nodes: Map<string, Placed>, defaults: Defaults): TopologyLink[] {
  const s = sequence(ctx, node, 'links');
  if (s.items.length === 0) fail(ctx, s, 'links', 'at least one link is required');
  const ids = new Map<string, string>(); // link id → path where first defined
  const ifnames = new Map<string, string>(); // "router/ifname" → link id
  return s.items.map((item, i) => {
    const path = `links[${i}]`;
    const m = mapping(ctx, resolve(ctx, item as Node), path, 'e.g. "{ endpoints: [r1, r2] }"');
    checkKeys(ctx, m, path, ['id', 'endpoints', 'encapsulation', 'ipv4', 'ipv6', 'mtu', 'class', 'egress']);

    const epNode = required(ctx, m, path, 'endpoints');
    const eps = sequence(ctx, epNode, `${path}.endpoints`);
    const members = eps.items.map((e, j) => member(ctx, resolve(ctx, e as Node), `${path}.endpoints[${j}]`, nodes));
    const egNode = get(ctx, m, path, 'egress');
    const egress = egNode !== undefined ? egressOf(ctx, egNode, `${path}.egress`) : undefined;
    if (egress && members.length !== 1) fail(ctx, eps, `${path}.endpoints`, `an egress link has exactly 1 endpoint (the router; the egress node is the other end), has ${members.length}`);
    if (!egress && members.length < 2) fail(ctx, eps, `${path}.endpoints`, `a link needs at least 2 endpoints, has ${members.length}`);
    members.forEach((mb, j) => {
      if (members.findIndex((o) => o.node === mb.node) !== j) {
        fail(ctx, eps.items[j] as Node, `${path}.endpoints[${j}]`, `router "${mb.node}" is an endpoint of this link twice`);
      }
    });

    const idNode = get(ctx, m, path, 'id');
    let lid: string;
    if (idNode !== undefined) {
      lid = id(ctx, idNode, `${path}.id`);
    } else {
      lid = [...members.map((mb) => mb.node), ...(egress ? [egress.node] : [])].join('-');
      if (!ID.test(lid)) fail(ctx, m, `${path}.id`, `the default id "${lid}" ${ID_RULE}; give the link an id`);
    }
    const prev = ids.get(lid);
    if (prev !== undefined) {
      fail(ctx, idNode ?? m, `${path}.id`, `duplicate link id "${lid}" (also ${prev})${idNode === undefined ? '; give one of them an id' : ''}`);
    }
    ids.set(lid, path);

    members.forEach((mb, j) => {
      if (mb.ifname === undefined) return;
      const key = `${mb.node}/${mb.ifname}`;
      const other = ifnames.get(key);
      if (other !== undefined) fail(ctx, eps.items[j] as Node, `${path}.endpoints[${j}]`, `${mb.ifname} on ${mb.node} is already used by link "${other}"`);
      ifnames.set(key, lid);
    });

    const encNode = get(ctx, m, path, 'encapsulation');
    const encapsulation = encNode !== undefined ? oneOf(ctx, encNode, `${path}.encapsulation`, ENCAPSULATIONS) : defaults.encapsulation ?? 'auto';
    if (isLayer3(encapsulation) && members.length > 2) {
      fail(ctx, encNode ?? m, `${path}.encapsulation`,
        `${encapsulation} is layer 3 and point-to-point only; a LAN of ${members.length} needs ${wordsOr(LAYER2_KINDS)}`);
    }
    const mtuNode = get(ctx, m, path, 'mtu');
    const linkMtu = mtuNode !== undefined ? mtu(ctx, mtuNode, `${path}.mtu`) : defaults.mtu;
    const clsNode = get(ctx, m, path, 'class');
    // An egress link's addresses are announced upstream: public unless said otherwise (the controller then refuses).
    const addressClass = clsNode !== undefined ? oneOf(ctx, clsNode, `${path}.class`, ADDRESS_CLASSES) : egress ? 'public' : defaults.addressClass ?? 'local';

    const said: Record<Family, Said> = {
      ipv4: firstSaid(addressing(ctx, get(ctx, m, path, 'ipv4'), `${path}.ipv4`), defaults.ipv4),
      ipv6: firstSaid(addressing(ctx, get(ctx, m, path, 'ipv6'), `${path}.ipv6`), defaults.ipv6),
    };
    // An explicit address asks for its family, unless the family is switched off.
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const j = members.findIndex((mb) => mb[fam] !== undefined);
      if (j < 0) continue;
      if (said[fam] === false) fail(ctx, eps.items[j] as Node, `${path}.endpoints[${j}].${fam}`, `the link has ${fam} switched off`);
      if (said[fam] === undefined) said[fam] = {};
    }
    if (said.ipv4 === undefined && !said.ipv6) said.ipv4 = {};
    if (!said.ipv4 && !said.ipv6) fail(ctx, m, path, 'neither ipv4 nor ipv6 is enabled');

    const link: TopologyLink = { id: lid, members, encapsulation, addressClass };
    if (linkMtu !== undefined) link.mtu = linkMtu;
    if (said.ipv4) link.ipv4 = said.ipv4;
    if (said.ipv6) link.ipv6 = said.ipv6;
    if (egress) link.egress = egress;
    return link;
  });
}

/** { node: e1, routes: default | full, default_route: true | false } */
function egressOf(ctx: Ctx, node: Node, path: string): NonNullable<TopologyLink['egress']> {
  const m = mapping(ctx, resolve(ctx, node), path, 'e.g. "{ node: e1, routes: full }"');
  checkKeys(ctx, m, path, ['node', 'routes', 'default_route']);
  const eg = id(ctx, required(ctx, m, path, 'node'), `${path}.node`, 'a node name');
  const r = get(ctx, m, path, 'routes');
  const routes = r !== undefined ? oneOf(ctx, r, `${path}.routes`, ['default', 'full'] as const) : 'default';
  const d = get(ctx, m, path, 'default_route');
  let defaultRoute = true;
  if (d !== undefined) {
    const v = resolve(ctx, d);
    if (!isScalar(v) || typeof v.value !== 'boolean') fail(ctx, v, `${path}.default_route`, `must be true or false, got ${describe(v)}`);
    defaultRoute = v.value;
  }
  return { node: eg, routes, defaultRoute };
}

const firstSaid = (a: Said, b: Said): Said => (a !== undefined ? a : b === undefined ? undefined : b === false ? false : { ...b });

/** "r1", "r1:eth5" or { node, ifname, ipv4, ipv6 }. */
function member(ctx: Ctx, node: Node | null | undefined, path: string, nodes: Map<string, Placed>): LinkMember {
  let out: LinkMember;
  let nodeAt: Node;
  let ifAt: Node;
  if (isScalar(node) && (typeof node.value === 'string' || (typeof node.value === 'number' && Number.isInteger(node.value)))) {
    const text = String(node.value);
    const colon = text.indexOf(':');
    out = colon < 0 ? { node: text } : { node: text.slice(0, colon), ifname: text.slice(colon + 1) };
    nodeAt = ifAt = node;
  } else {
    const m = mapping(ctx, node, path, 'a router id, "router:ifname" or { node, ifname, ipv4, ipv6 }');
    checkKeys(ctx, m, path, ['node', 'ifname', 'ipv4', 'ipv6']);
    nodeAt = required(ctx, m, path, 'node');
    out = { node: str(ctx, nodeAt, `${path}.node`) };
    const ifNode = get(ctx, m, path, 'ifname');
    ifAt = ifNode ?? m;
    if (ifNode !== undefined) out.ifname = str(ctx, ifNode, `${path}.ifname`);
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const a = get(ctx, m, path, fam);
      if (a === undefined) continue;
      const text = str(ctx, a, `${path}.${fam}`);
      const want = fam === 'ipv4' ? 4 : 6;
      if (isIP(text) !== want) {
        const hint = text.includes('/') ? ' (give it without a prefix length)' : '';
        fail(ctx, a, `${path}.${fam}`, `${JSON.stringify(text)} is not an IPv${want} address${hint}`);
      }
      out[fam] = text;
    }
  }
  if (!nodes.has(out.node)) {
    const near = suggest(out.node, [...nodes.keys()]);
    fail(ctx, nodeAt, path, `unknown node "${out.node}"${near ? ` (did you mean "${near}"?)` : ''}`);
  }
  if (out.ifname !== undefined) {
    const problem = ifnameProblem(out.ifname);
    if (problem) fail(ctx, ifAt, path, `${JSON.stringify(out.ifname)} cannot be an interface name: it ${problem}`);
    if (out.ifname === 'lo') fail(ctx, ifAt, path, '"lo" is the loopback interface');
  }
  return out;
}

/** true | false | { prefix_length: N } */
function addressing(ctx: Ctx, node: Node | undefined, path: string): Said {
  if (node === undefined) return undefined;
  if (isScalar(node) && typeof node.value === 'boolean') return node.value ? {} : false;
  if (!isMap(node)) fail(ctx, node, path, 'expected true, false or { prefix_length: N }');
  checkKeys(ctx, node, path, ['prefix_length']);
  const plNode = get(ctx, node, path, 'prefix_length');
  if (plNode === undefined) return {};
  const fam: Family = path.endsWith('ipv6') ? 'ipv6' : 'ipv4';
  const [min, max] = PREFIX_RANGE[fam];
  const pl = int(ctx, plNode, `${path}.prefix_length`);
  if (pl < min || pl > max) fail(ctx, plNode, `${path}.prefix_length`, `/${pl} is outside /${min}–/${max}`);
  return { prefixLength: pl };
}

function mtu(ctx: Ctx, node: Node, path: string): number {
  const v = int(ctx, node, path);
  if (v < MTU_MIN || v > MTU_MAX) fail(ctx, node, path, `${v} is outside ${MTU_MIN}–${MTU_MAX}`);
  return v;
}

// ---- readers over yaml nodes ----

function resolve(ctx: Ctx, node: Node | null | undefined): Node | null | undefined {
  return isAlias(node) ? (node.resolve(ctx.doc) as Node | undefined) : node;
}


function mapping(ctx: Ctx, node: Node | null | undefined, path: string, example?: string): YAMLMap<unknown, unknown> {
  if (!isMap(node)) fail(ctx, node, path, `expected a mapping${example ? ` (${example})` : ''}, got ${describe(node)}`);
  return node;
}

function sequence(ctx: Ctx, node: Node, path: string) {
  if (!isSeq(node)) fail(ctx, node, path, `expected a list, got ${describe(node)}`);
  return node;
}

function keyOf(pair: { key: unknown }): string | undefined {
  const k = pair.key;
  return isScalar(k) && (typeof k.value === 'string' || typeof k.value === 'number') ? String(k.value) : undefined;
}

/** The value under `key`, aliases resolved; "key:" with nothing after it is an error. */
function get(ctx: Ctx, m: YAMLMap<unknown, unknown>, path: string, key: string): Node | undefined {
  const pair = m.items.find((p) => keyOf(p) === key);
  if (!pair) return undefined;
  const v = resolve(ctx, pair.value as Node | null);
  if (v === null || v === undefined || (isScalar(v) && v.value === null)) fail(ctx, pair.key as Node, path ? `${path}.${key}` : key, 'has no value');
  return v;
}

function required(ctx: Ctx, m: YAMLMap<unknown, unknown>, path: string, key: string): Node {
  const v = get(ctx, m, path, key);
  if (v === undefined) fail(ctx, m, path ? `${path}.${key}` : key, 'is required');
  return v;
}

function checkKeys(ctx: Ctx, m: YAMLMap<unknown, unknown>, path: string, allowed: readonly string[]): void {
  for (const pair of m.items) {
    const k = keyOf(pair);
    if (k === undefined) fail(ctx, pair.key as Node, path, `keys must be plain names, got ${describe(pair.key as Node)}`);
    if (allowed.includes(k)) continue;
    const near = suggest(k, allowed);
    const field = path ? `${path}.${k}` : k;
    fail(ctx, pair.key as Node, field, `unknown field${near ? ` (did you mean "${near}"?)` : ''}; expected one of ${allowed.join(', ')}`);
  }
}

function str(ctx: Ctx, node: Node, path: string): string {
  if (!isScalar(node) || typeof node.value !== 'string') fail(ctx, node, path, `expected a string, got ${describe(node)}`);
  return node.value;
}

function id(ctx: Ctx, node: Node, path: string, what = 'an id'): string {
  // Quietly accept integers as names (`node: 1`); anything else must be a string.
  const v = isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value) ? String(node.value) : undefined;
  const text = v ?? (isScalar(node) && typeof node.value === 'string' ? node.value : undefined);
  if (text === undefined) fail(ctx, node, path, `expected ${what}, got ${describe(node)}`);
  if (!ID.test(text)) fail(ctx, node, path, `${JSON.stringify(text)} ${ID_RULE}`);
  return text;
}

function int(ctx: Ctx, node: Node, path: string): number {
  if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value)) {
    fail(ctx, node, path, `expected a whole number, got ${describe(node)}`);
  }
  return node.value;
}

function oneOf<T extends string>(ctx: Ctx, node: Node, path: string, choices: readonly T[]): T {
  const text = isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
  if (text !== undefined && (choices as readonly string[]).includes(text)) return text as T;
  const near = text !== undefined ? suggest(text, choices) : undefined;
  fail(ctx, node, path, `${text !== undefined ? JSON.stringify(text) : describe(node)} is not one of ${choices.join(', ')}${near ? ` (did you mean "${near}"?)` : ''}`);
}

// ---- errors ----

function where(ctx: Ctx, offset: number | undefined): string {
  if (offset === undefined) return ctx.file !== undefined ? `${ctx.file}: ` : '';
  const { line, col } = ctx.lc.linePos(offset);
  return ctx.file !== undefined ? `${ctx.file}:${line}:${col}: ` : `line ${line}: `;
}

function fail(ctx: Ctx, node: Node | null | undefined, path: string, reason: string): never {
  const offset = node?.range?.[0];
  throw new InvalidSpecError(`${where(ctx, offset)}${path ? `${path}: ` : ''}${reason}`, { field: path });
}

/** The closest choice, if only a typo away (none for very short words: "r9" is not a typo of "r1"). */
function suggest(word: string, choices: readonly string[]): string | undefined {
  const maxD = word.length <= 2 ? 0 : word.length <= 4 ? 1 : 2;
  let best: string | undefined, bestD = maxD + 1;
  for (const c of choices) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) { best = c; bestD = d; }
  }
  return best;
}

/** Edit distance with transpositions (optimal string alignment). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
