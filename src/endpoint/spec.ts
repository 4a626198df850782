// A link endpoint on one node, as the controller hands it down, and its
// resolution into every concrete object (names, MTU, tunnels, FDB). All
// validation happens here, before anything touches a kernel; errors name
// the field and the reason.
import { isIP } from 'node:net';
import { InvalidSpecError } from '../errors.js';
import { parseCidr } from '../netlink/codec.js';
import type { Mark } from '../ownership.js';
import { isTunnelKind, keyWord, kinds, layer2KindsOver, TUNNEL_KINDS, wordsOr } from '../tunnel/kinds.js';
import type { TunnelKind, TunnelSpec } from '../tunnel/types.js';
import { endpointNames, ID, ifnameProblem } from './names.js';
import { propertiesProblem, PROPERTY_FIELD, shapedOnly, type LinkProperties } from '../shape/properties.js';
import { shaperFor, type ShaperQdisc } from '../shape/tree.js';

export interface EndpointSpec {
  slice: string;
  link: string;
  /** The slice's link group (ownership mark, bulk teardown). */
  group: number;
  kind: TunnelKind;
  /** This node's underlay address. */
  local: string;
  /** Underlay addresses of the other members: one for point-to-point, more for a LAN. */
  remotes: string[];
  /**
   * A LAN (multipoint) link even when only one other member is left, so a
   * member leaving or joining never changes the link's shape (default: more
   * than one remote).
   */
  lan?: boolean;
  /** GRE key or VXLAN VNI of this link. */
  key: number;
  dstPort?: number;
  /** The experiment's network namespace on this node. */
  netns: string;
  /** Interface name inside it, e.g. "eth1". */
  ifname: string;
  /** CIDRs for the experiment interface. */
  addresses: string[];
  /** Experiment-side MTU; default: what the encapsulation leaves of the underlay MTU. */
  mtu?: number;
  underlayMtu?: number;
  /** Operational stop: the experiment interface is held down (PerformOperationalAction stop). */
  adminDown?: boolean;
  /**
   * The egress node's end of an egress link: there is no experiment
   * namespace; the link's bridge, in the node's own namespace, carries
   * `addresses` and is the slice's egress device (layer-2 kinds only).
   * `netns` and `ifname` are ignored.
   */
  egress?: boolean;
  /** Routes in the experiment namespace through this link (an egress link's default route). */
  routes?: RouteVia[];
  /** What this endpoint sends: shaped on the egress of its node-side tunnel devices (docs/links.md). Absent: unshaped. */
  properties?: LinkProperties;
}

export interface RouteVia { dst: string; via: string }

/** An endpoint in a node's desired state: the spec, plus its restart counter (bumped by a restart action: rebuild once). */
export interface DesiredEndpoint extends EndpointSpec { restart: number }

export interface ResolvedEndpoint {
  spec: EndpointSpec;
  mark: Mark;
  layer: 2 | 3;
  mtu: number;
  /**
   * How a layer-2 endpoint's node-side devices are joined: 'redirect', the
   * tunnel and the veth's host end passing frames to each other directly
   * (src/bridge/redirect.ts: one tunnel device and one veth, the common
   * case); 'bridge', a bridge with them as ports, where there are more than
   * two (a LAN over point-to-point tunnels, always, so members coming and
   * going never change its shape) or the bridge is itself the node's
   * interface (the egress end).
   */
  join: 'bridge' | 'redirect';
  bridge: string;
  vethHost: string;
  tunnels: TunnelSpec[];
  /** VXLAN LAN: head-end replication FDB entries, one per remote. */
  fdb: string[];
  /** LAN over point-to-point tunnels: isolate tunnel ports (split horizon). */
  isolate: boolean;
  addresses: string[];
  /** The egress variant: addresses on the bridge in the node namespace, no veth. */
  nodeSide: boolean;
  routes: RouteVia[];
  /** The qdiscs on each tunnel device's egress, root first; [] unshaped (src/shape/tree.ts). */
  shaper: ShaperQdisc[];
}

/**
 * How an endpoint of this spec joins its node-side devices (ResolvedEndpoint.join):
 * the one rule, for the agent's plan and the controller's status alike.
 */
export function joinOf(spec: Pick<EndpointSpec, 'kind' | 'remotes' | 'lan' | 'egress'>): 'bridge' | 'redirect' {
  const lan = spec.lan ?? spec.remotes.length > 1;
  // A point-to-point kind has a tunnel per remote: more than one (even with lan: false) needs the bridge.
  return spec.egress === true || (kinds[spec.kind].lan !== 'multipoint' && (lan || spec.remotes.length > 1)) ? 'bridge' : 'redirect';
}

const bad = (field: string, why: string): InvalidSpecError => new InvalidSpecError(`${field}: ${why}`, { field });

/** "only vxlan has one": the kinds carried over UDP, for a port given to another kind. */
function udpKinds(): string {
  const udp = TUNNEL_KINDS.filter((k) => kinds[k].udpPort !== undefined);
  return `only ${wordsOr(udp)} ${udp.length === 1 ? 'has' : 'have'} one`;
}

const ipFamily = (ip: string): 4 | 6 | 0 => (isIP(ip) as 4 | 6 | 0);

export function resolveEndpoint(spec: EndpointSpec): ResolvedEndpoint {
  if (!ID.test(spec.slice)) throw bad('slice', `${JSON.stringify(spec.slice)} must be 1–63 letters, digits, ".", "_" or "-"`);
  if (!ID.test(spec.link)) throw bad('link', `${JSON.stringify(spec.link)} must be 1–63 letters, digits, ".", "_" or "-"`);
  if (!Number.isInteger(spec.group) || spec.group < 1 || spec.group > 0xffffffff) throw bad('group', `${spec.group} is not a link group id (1–4294967295)`);
  if (!isTunnelKind(spec.kind)) throw bad('kind', `${JSON.stringify(spec.kind)} is not one of ${TUNNEL_KINDS.join(', ')}`);
  const d = kinds[spec.kind];
  const p2pOnly = (): string => `${spec.kind} is layer 3 and point-to-point only; use ${wordsOr(layer2KindsOver(d.family))} for a LAN`;
  const fam = ipFamily(spec.local);
  if (!fam) throw bad('local', `${JSON.stringify(spec.local)} is not an IP address`);
  if (d.family && d.family !== fam) throw bad('local', `${spec.kind} runs over IPv${d.family}; ${spec.local} is IPv${fam}`);
  if (!spec.remotes.length) throw bad('remotes', 'a link endpoint needs at least one remote member');
  spec.remotes.forEach((r, i) => {
    if (ipFamily(r) !== fam) throw bad(`remotes[${i}]`, `${JSON.stringify(r)} is not an IPv${fam} address like local ${spec.local}`);
    if (r === spec.local) throw bad(`remotes[${i}]`, `${r} is this node's own address`);
  });
  if (new Set(spec.remotes).size !== spec.remotes.length) throw bad('remotes', 'lists a member twice');
  if (d.layer === 3 && spec.remotes.length > 1) throw bad('kind', p2pOnly());
  if (!Number.isInteger(spec.key) || spec.key < d.keys.first || spec.key > d.keys.last) {
    throw bad('key', `${spec.key} is out of range for ${spec.kind} (${keyWord(spec.kind)} ${d.keys.first}–${d.keys.last})`);
  }
  if (spec.dstPort !== undefined && (d.udpPort === undefined || !Number.isInteger(spec.dstPort) || spec.dstPort < 1 || spec.dstPort > 65535)) {
    throw bad('dstPort', d.udpPort === undefined ? `${spec.kind} has no UDP port (${udpKinds()})` : `${spec.dstPort} is not a UDP port`);
  }
  const nodeSide = spec.egress === true;
  if (nodeSide && d.layer !== 2) throw bad('kind', `${spec.kind} is layer 3; an egress link ends on the egress node's bridge and needs a layer-2 kind`);
  const nsProblem = spec.netns.length === 0 || spec.netns.includes('/') || spec.netns.startsWith('.');
  if (nsProblem && !nodeSide) throw bad('netns', `${JSON.stringify(spec.netns)} is not a namespace name`);
  const ifp = ifnameProblem(spec.ifname);
  if (ifp && !nodeSide) throw bad('ifname', `${JSON.stringify(spec.ifname)} ${ifp}`);

  const underlay = spec.underlayMtu ?? 1500;
  const maxMtu = underlay - d.overhead(fam);
  const mtu = spec.mtu ?? maxMtu;
  const addresses = spec.addresses.map((a, i) => {
    try { const c = parseCidr(a); return `${c.address}/${c.prefixlen}`; } catch { throw bad(`addresses[${i}]`, `${JSON.stringify(a)} is not address/prefix`); }
  });
  const minMtu = addresses.some((a) => a.includes(':')) ? 1280 : 576;
  if (!Number.isInteger(mtu) || mtu > maxMtu || mtu < minMtu) {
    throw bad('mtu', `${mtu} does not fit: ${spec.kind} over a ${underlay}-byte IPv${fam} underlay leaves at most ${maxMtu}; the minimum is ${minMtu}${minMtu === 1280 ? ' (IPv6)' : ''}`);
  }

  const routes = (spec.routes ?? []).map((rt, i) => {
    let dst;
    try { dst = parseCidr(rt.dst); } catch { throw bad(`routes[${i}].dst`, `${JSON.stringify(rt.dst)} is not prefix/length`); }
    if (ipFamily(rt.via) !== (dst.family === 10 ? 6 : 4)) throw bad(`routes[${i}].via`, `${JSON.stringify(rt.via)} is not an address of ${rt.dst}'s family`);
    return { dst: `${dst.address}/${dst.prefixlen}`, via: rt.via };
  });
  if (nodeSide && routes.length) throw bad('routes', 'the egress end of a link has no experiment namespace to route in');

  const props = shapedOnly(spec.properties);
  const problem = props && propertiesProblem(props);
  if (problem) throw bad(`properties.${PROPERTY_FIELD[problem.field]}`, problem.why);
  if (props && d.layer === 3) throw bad('properties', `${spec.kind} is layer 3: its device is the experiment's own interface; properties are shaped on a layer-2 link's node-side devices`);

  const names = endpointNames(spec.slice, spec.link);
  const multipoint = d.lan === 'multipoint';
  const lan = spec.lan ?? spec.remotes.length > 1;
  if (d.layer === 3 && lan) throw bad('kind', p2pOnly());
  const tunnels: TunnelSpec[] = multipoint
    ? [{ kind: spec.kind, name: names.tunnel(), local: spec.local, key: spec.key, ...(!lan ? { remote: spec.remotes[0]! } : {}),
      ...(spec.dstPort ? { dstPort: spec.dstPort } : {}) }]
    : spec.remotes.map((r) => ({ kind: spec.kind, name: d.layer === 3 ? names.tunnel() : names.tunnel(r), local: spec.local, remote: r, key: spec.key }));
  return {
    spec, mark: { slice: spec.slice, link: spec.link, group: spec.group }, layer: d.layer, mtu,
    join: joinOf(spec),
    bridge: names.bridge, vethHost: names.vethHost, tunnels,
    fdb: multipoint && lan ? [...spec.remotes] : [],
    isolate: !multipoint && lan,
    addresses,
    nodeSide,
    routes,
    // The tunnel devices carry the link's frames (inner Ethernet header included), whose size the MTU bounds.
    shaper: shaperFor(props, mtu),
  };
}
