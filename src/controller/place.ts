// Placement: the topology against the node registry. Lists the ways each
// link may be carried (kind, underlay family and addresses; auto: the kinds
// every member supports, best first), experiment namespaces and interface
// names; builds the IPAM request, in which the allocator picks the first way
// whose identifier is free (a kind whose identity is the underlay address
// pair, EtherIP, may find its pair taken); turns the allocation into link records.
import { isIP } from 'node:net';
import { IncompatibleStateError, InvalidSpecError, VispError, type ErrorOptions } from '../errors.js';
import { endpointNames, experimentNetns } from '../endpoint/names.js';
import { AUTO_ORDER, kinds } from '../tunnel/kinds.js';
import type { TunnelKind } from '../tunnel/types.js';
import type { Pacer } from '../ipam/pacer.js';
import type { LinkChoice, LinkSpec, SliceAllocation, SliceSpec } from '../ipam/types.js';
import { EGRESS_MEMBER, type LinkRecord, type NodeRecord, type Topology, type TopologyLink } from './model.js';

/** Underlay MTU of an address its node did not report one for (an agent from before it did). */
export const UNDERLAY_MTU = 1500;

/**
 * What placement reads of a node besides its record: the MTU of the device
 * each underlay address is on, as its agent measured it at Register
 * (address → MTU). Absent, or an address missing: UNDERLAY_MTU.
 */
export interface UnderlayMtus { underlayMtu?: Readonly<Record<string, number>> }
export type PlacementNode = NodeRecord & UnderlayMtus;

/**
 * The MTUs an agent reported at Register, checked: one per underlay address
 * it offers, each a whole number from 576 to 65535. Nothing reported: {} (every address 1500).
 */
export function checkUnderlayMtus(underlay: readonly string[], mtus: Readonly<Record<string, number>> | undefined): UnderlayMtus {
  const out: Record<string, number> = {};
  for (const [a, m] of Object.entries(mtus ?? {})) {
    const f = `register.underlay_mtus[${JSON.stringify(a)}]`;
    if (!underlay.includes(a)) throw new InvalidSpecError(`${f}: ${a} is not one of the underlay addresses offered (${underlay.join(', ') || 'none'})`, { field: 'underlay_mtus' });
    if (!Number.isInteger(m) || m < 576 || m > 65535) throw new InvalidSpecError(`${f}: ${m} is not an MTU from 576 to 65535`, { field: 'underlay_mtus' });
    out[a] = m;
  }
  return Object.keys(out).length ? { underlayMtu: out } : {};
}

/** The MTU under one of a node's underlay addresses. */
export const underlayMtuOf = (n: PlacementNode, address: string): number => n.underlayMtu?.[address] ?? UNDERLAY_MTU;

const bad = (field: string, why: string): InvalidSpecError => new InvalidSpecError(`${field}: ${why}`, { field });

/** One way to carry a link: a kind over one underlay family, with each member's underlay address (in member order). */
export interface Way {
  kind: TunnelKind;
  family: 4 | 6;
  underlays: string[];
}

export interface PlacedLink {
  link: TopologyLink;
  /**
   * In order of preference, never empty. Only a kind whose identifier is the
   * underlay pair can find its way taken, so the list ends with the first
   * way of a kind with a key or VNI.
   */
  ways: Way[];
  /** Per member, in member order. */
  members: Array<{ node: string; physicalNode: string; netns: string; ifname: string }>;
  /** Per way (same order): the largest link MTU its path leaves (the smallest member underlay MTU minus the kind's overhead). */
  maxMtu: number[];
}

/** A router without a netns of its own gets visp's derived name (unambiguous: see experimentNetns). */
export const defaultNetns = (slice: string, nodeId: string): string => experimentNetns(slice, nodeId);

const underlayOf = (n: NodeRecord, family: 4 | 6): string | undefined => n.underlay.find((a) => isIP(a) === family);
const supports = (n: NodeRecord, kind: TunnelKind): boolean => n.capabilities.find((c) => c.kind === kind)?.supported === true;

/**
 * Place every link. `connected` tells which nodes' capabilities are current:
 * a kind is checked only against those (a known node that is offline may
 * still be allocated on; its agent reports a failure at Provision if it lacks
 * the kind).
 */
export function placeLinks(slice: string, t: Topology, nodes: ReadonlyMap<string, PlacementNode>, connected: (name: string) => boolean,
  egressNodes: ReadonlySet<string> = new Set()): PlacedLink[] {
  return t.links.map(linkPlacer(slice, t, nodes, connected, egressNodes));
}

/** placeLinks, giving the event loop a turn whenever `pace` says (a 10,000-link slice takes a few hundred ms). */
export function placeLinksPaced(slice: string, t: Topology, nodes: ReadonlyMap<string, PlacementNode>, connected: (name: string) => boolean,
  egressNodes: ReadonlySet<string>, pace: Pacer): Promise<PlacedLink[]> {
  return pace.map(t.links, linkPlacer(slice, t, nodes, connected, egressNodes));
}

/** The checks of the whole topology, then a function that places its links one by one, in order. */
function linkPlacer(slice: string, t: Topology, nodes: ReadonlyMap<string, PlacementNode>, connected: (name: string) => boolean,
  egressNodes: ReadonlySet<string>): (l: TopologyLink, i: number) => PlacedLink {
  const byId = new Map(t.nodes.map((n, i) => [n.id, { n, i }]));
  t.nodes.forEach((n, i) => {
    if (!nodes.has(n.node)) throw bad(`topology.nodes[${i}].node`, `unknown physical node "${n.node}" (known: ${[...nodes.keys()].sort().join(', ') || 'none'})`);
  });
  const nextIf = new Map<string, number>();
  const taken = new Set(t.links.flatMap((l) => l.members.filter((m) => m.ifname).map((m) => `${m.node}/${m.ifname}`)));
  const ifnameFor = (nodeId: string): string => {
    for (;;) {
      const n = (nextIf.get(nodeId) ?? 0) + 1;
      nextIf.set(nodeId, n);
      if (!taken.has(`${nodeId}/eth${n}`)) return `eth${n}`;
    }
  };
  return (l, i) => {
    const f = `topology.links[${i}]`;
    const recs = l.members.map((m) => nodes.get(byId.get(m.node)!.n.node)!);
    if (l.egress) {
      const eg = nodes.get(l.egress.node);
      if (!eg) throw bad(`${f}.egress.node`, `unknown physical node "${l.egress.node}" (known: ${[...nodes.keys()].sort().join(', ') || 'none'})`);
      if (!egressNodes.has(eg.name)) {
        throw new IncompatibleStateError(`${f}.egress.node: node ${eg.name} has no BGP egress configured (an operator sets it with SetEgressNode / visp egress set)`, { field: `${f}.egress.node` });
      }
      recs.push(eg);
    }
    const lan = recs.length > 2;
    const seen = new Map<string, number>();
    recs.forEach((r, j) => {
      const other = seen.get(r.name);
      if (other !== undefined) throw bad(`${f}.members[${j}].node`, `members ${other} and ${j} are on the same physical node (${r.name}); a link joins different nodes`);
      seen.set(r.name, j);
    });
    const ways = waysFor(l, recs, lan, connected, f);
    const members = recs.map((r, j) => {
      const m = l.members[j];
      // The egress end: no experiment namespace; its "interface" is the link's bridge on the egress node.
      if (!m) return { node: EGRESS_MEMBER, physicalNode: r.name, netns: '', ifname: endpointNames(slice, l.id).bridge };
      const tn = byId.get(m.node)!.n;
      return { node: m.node, physicalNode: r.name, netns: tn.netns || defaultNetns(slice, tn.id), ifname: m.ifname || ifnameFor(m.node) };
    });
    return { link: l, ways, members, maxMtu: ways.map((w) => pathOf(w, recs).max) };
  };
}

/**
 * A way's path: the smallest underlay MTU among its members' addresses (the
 * member it belongs to, by index), and the largest link MTU it leaves, that
 * minus the kind's overhead over that family.
 */
function pathOf(w: Way, recs: readonly PlacementNode[]): { underlay: number; member: number; max: number } {
  let member = 0;
  w.underlays.forEach((a, j) => { if (underlayMtuOf(recs[j]!, a) < underlayMtuOf(recs[member]!, w.underlays[member]!)) member = j; });
  const underlay = underlayMtuOf(recs[member]!, w.underlays[member]!);
  return { underlay, member, max: underlay - kinds[w.kind].overhead(w.family) };
}

/**
 * Every way the link may be carried, best first: its kind (or auto's, in
 * AUTO_ORDER, by the drivers' autoRank) over each underlay family every
 * member has (IPv4 first), that fits the link's MTU. Errors are the first
 * way's, as before there were several: a member without an address of the
 * family, an MTU that does not fit.
 */
function waysFor(l: TopologyLink, recs: NodeRecord[], lan: boolean, connected: (n: string) => boolean, f: string): Way[] {
  const all: Way[] = [];
  for (const kind of kindsFor(l, recs, lan, connected, f)) {
    const d = kinds[kind];
    const families: Array<4 | 6> = d.family === 6 ? [6] : d.family === 4 ? [4] : [4, 6];
    const usable = families.filter((fam) => recs.every((r) => underlayOf(r, fam)));
    if (usable.length === 0) {
      // Only an explicit kind gets here (auto lists kinds every member has an address for): say which member lacks what.
      const family = families.length === 1 ? families[0]! : recs.every((r) => underlayOf(r, 4)) ? 4 : 6;
      const j = recs.findIndex((r) => !underlayOf(r, family));
      throw bad(l.members[j] ? `${f}.members[${j}].node` : `${f}.egress.node`, `physical node ${recs[j]!.name} has no IPv${family} underlay address for ${kind}`);
    }
    for (const family of usable) all.push({ kind, family, underlays: recs.map((r) => underlayOf(r, family)!) });
  }
  // MTU is checked here, before anything is allocated: ways it does not fit are no ways.
  const fits = (w: Way): boolean => { const { max } = pathOf(w, recs); return (!l.mtu || l.mtu <= max) && (!l.ipv6 || (l.mtu || max) >= 1280); };
  const ways = all.filter(fits);
  if (ways.length === 0) {
    const w = all[0]!;
    const { underlay, member, max } = pathOf(w, recs);
    const why = `${w.kind} over IPv${w.family} leaves at most ${max} (the underlay MTU ${underlay} of node ${recs[member]!.name} at ${w.underlays[member]} minus ${kinds[w.kind].overhead(w.family)})`;
    if (l.mtu && l.mtu > max) throw bad(`${f}.mtu`, `${l.mtu} does not fit: ${why}`);
    throw bad(`${f}.mtu`, `${l.mtu || max} is below IPv6's minimum of 1280: ${why}`);
  }
  const keyed = ways.findIndex((w) => kinds[w.kind].identifier !== 'underlayPair');
  return keyed < 0 ? ways : ways.slice(0, keyed + 1);
}

/** The kinds a link may use, best first: its own, or auto's candidates (AUTO_ORDER) that every member supports and has an underlay address for. */
function kindsFor(l: TopologyLink, recs: NodeRecord[], lan: boolean, connected: (n: string) => boolean, f: string): TunnelKind[] {
  if (l.encapsulation !== 'auto') return [chooseKind(l, recs, lan, connected, f)];
  chooseKind(l, recs, lan, connected, f); // the same refusals as for the first choice
  return AUTO_ORDER.filter((k) => autoFits(k, recs, lan));
}

const autoFits = (k: TunnelKind, recs: NodeRecord[], lan: boolean): boolean => {
  if (lan && kinds[k].layer === 3) return false;
  const fam = kinds[k].family;
  return recs.every((r) => supports(r, k) && (fam === 0 ? underlayOf(r, 4) || underlayOf(r, 6) : underlayOf(r, fam)));
};

function chooseKind(l: TopologyLink, recs: NodeRecord[], lan: boolean, connected: (n: string) => boolean, f: string): TunnelKind {
  const live = recs.filter((r) => connected(r.name));
  if (l.encapsulation !== 'auto') {
    const lacking = live.find((r) => !supports(r, l.encapsulation as TunnelKind));
    if (lacking) {
      const why = lacking.capabilities.find((c) => c.kind === l.encapsulation)?.reason ?? 'not supported';
      throw bad(`${f}.encapsulation`, `${l.encapsulation} is not available on node ${lacking.name}: ${why}`);
    }
    return l.encapsulation;
  }
  if (live.length < recs.length) {
    const off = recs.find((r) => !connected(r.name))!;
    throw bad(`${f}.encapsulation`, `auto needs every member's capabilities, and node ${off.name} is not connected; name a kind instead`);
  }
  const k = AUTO_ORDER.find((x) => autoFits(x, recs, lan));
  if (k) return k;
  throw bad(`${f}.encapsulation`, `no encapsulation is available on all of ${recs.map((r) => r.name).join(', ')}`);
}

/** Every pair of members' underlay addresses: what a link of a kind identified by its underlay pair holds. */
function memberPairs(underlays: readonly string[]): Array<[string, string]> {
  return underlays.flatMap((a, i) => underlays.slice(i + 1).map((b): [string, string] => [a, b]));
}

/** What a way needs from the allocator: a GRE key or VNI, or its underlay pairs (the driver says which). */
function wayChoice(w: Way): LinkChoice {
  const id = kinds[w.kind].identifier;
  return id === 'underlayPair' ? { pairs: { space: w.kind, pairs: memberPairs(w.underlays) } } : { identifier: id };
}

/** The IPAM request for a placed slice: one link spec per link, interfaces named node:ifname. */
export function ipamRequest(slice: string, placed: readonly PlacedLink[]): SliceSpec {
  return { slice, links: placed.map(linkSpec) };
}

/** ipamRequest, giving the event loop a turn whenever `pace` says. */
export async function ipamRequestPaced(slice: string, placed: readonly PlacedLink[], pace: Pacer): Promise<SliceSpec> {
  return { slice, links: await pace.map(placed, linkSpec) };
}

function linkSpec(p: PlacedLink): LinkSpec {
  return {
    name: p.link.id,
    shape: p.members.length === 2 ? 'p2p' : 'lan',
    interfaces: p.members.map((m, j) => {
      const mem = p.link.members[j];
      return { name: `${m.node}:${m.ifname}`, ...(mem?.ipv4 ? { ipv4: mem.ipv4 } : {}), ...(mem?.ipv6 ? { ipv6: mem.ipv6 } : {}) };
    }),
    ...(p.link.ipv4 ? { ipv4: { class: p.link.addressClass, ...(p.link.ipv4.prefixLength ? { prefixLength: p.link.ipv4.prefixLength } : {}) } } : {}),
    ...(p.link.ipv6 ? { ipv6: { class: p.link.addressClass, ...(p.link.ipv6.prefixLength ? { prefixLength: p.link.ipv6.prefixLength } : {}) } } : {}),
    ...(p.ways.length === 1 ? wayChoice(p.ways[0]!) : { choices: p.ways.map(wayChoice) }),
  };
}

/**
 * An IPAM error in the request's own terms. The IPAM request mirrors the
 * topology index for index (links in order, interfaces in member order), so
 * its fields map 1:1: links[2].interfaces[1].ipv4 → topology.links[2].members[1].ipv4,
 * links[0].ipv6.prefixLength → topology.links[0].ipv6.prefix_length. The
 * message then starts with that field (also when the IPAM's did not); the
 * class, and so the gRPC status, stays the same.
 */
export function inTopologyTerms(e: unknown): unknown {
  if (!(e instanceof VispError) || !e.field) return e;
  const m = /^links(\[\d+\])?(.*)$/.exec(e.field);
  if (!m) return e;
  // How a link is carried (its identifier, underlay pairs or choices of those) is its encapsulation.
  const rest = m[2]!.replace(/^\.(identifier|pairs|choices)\b.*$/, '.encapsulation').replace(/^\.interfaces\[/, '.members[').replace(/\.prefixLength$/, '.prefix_length');
  const field = `topology.links${m[1] ?? ''}${rest}`;
  const reason = e.message.startsWith(`${e.field}: `) ? e.message.slice(e.field.length + 2) : e.message;
  const Ctor = e.constructor as new (message: string, opts: ErrorOptions) => VispError;
  const retry = e.freesAt !== undefined ? { freesAt: e.freesAt, ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}) } : {};
  return new Ctor(`${field}: ${reason}`, { field, cause: e, ...retry });
}

/** Link records from placement + allocation. */
export function linkRecords(placed: readonly PlacedLink[], a: SliceAllocation): LinkRecord[] {
  return placed.map(linkRecordOf(a));
}

/** linkRecords, giving the event loop turns whenever `pace` says. */
export function linkRecordsPaced(placed: readonly PlacedLink[], a: SliceAllocation, pace: Pacer): Promise<LinkRecord[]> {
  return pace.map(placed, linkRecordOf(a));
}

function linkRecordOf(a: SliceAllocation): (p: PlacedLink) => LinkRecord {
  const byName = new Map(a.links.map((x) => [x.name, x]));
  return (p) => {
    const la = byName.get(p.link.id)!;
    const way = p.ways[la.choice ?? 0]!;
    const mtu = p.link.mtu ? p.link.mtu : p.maxMtu[la.choice ?? 0]!;
    return {
      id: p.link.id, kind: way.kind, key: la.vni ?? la.greKey ?? 0, mtu, lan: p.members.length > 2, addressClass: p.link.addressClass,
      ...(la.ipv4 ? { ipv4Subnet: la.ipv4.prefix } : {}), ...(la.ipv6 ? { ipv6Subnet: la.ipv6.prefix } : {}),
      endpoints: p.members.map((m, j) => {
        const ia = la.interfaces[j]!;
        const addresses: string[] = [];
        if (ia.ipv4) addresses.push(ia.ipv4);
        if (ia.ipv6) addresses.push(ia.ipv6);
        return { node: m.node, physicalNode: m.physicalNode, netns: m.netns, ifname: m.ifname, underlay: way.underlays[j]!, addresses };
      }),
      stopped: false,
      restart: 0,
      ...(p.link.egress ? { egress: p.link.egress } : {}),
    };
  };
}
