// A node's desired state: every link endpoint of every provisioned slice
// that has a member on the node, as the agent's EndpointSpec.
import type { DesiredEndpoint, RouteVia } from '../endpoint/spec.js';
import type { Pacer } from '../ipam/pacer.js';
import { EGRESS_MEMBER, type EndpointRecord, type LinkRecord, type SliceRecord } from './model.js';
export type { DesiredEndpoint };


export function endpointsFor(node: string, slices: Iterable<SliceRecord>): DesiredEndpoint[] {
  const out: DesiredEndpoint[] = [];
  for (const s of slices) {
    if (s.state !== 'provisioned') continue;
    for (const [l, e] of footprint(s).byNode.get(node) ?? []) out.push(endpointSpecOf(s, l, e));
  }
  return out;
}

/** endpointsFor, giving the event loop turns whenever `pace` says (a node of a 10,000-link slice has thousands). */
export async function endpointsForPaced(node: string, slices: Iterable<SliceRecord>, pace: Pacer): Promise<DesiredEndpoint[]> {
  const out: DesiredEndpoint[] = [];
  for (const s of [...slices]) {
    if (s.state !== 'provisioned') continue;
    out.push(...(await pace.map(footprint(s).byNode.get(node) ?? [], ([l, e]) => endpointSpecOf(s, l, e))));
  }
  return out;
}

/** How many endpoints the node has in provisioned slices (cheap: counted once per links array). */
export function endpointCount(node: string, slices: Iterable<SliceRecord>): number {
  let n = 0;
  for (const s of slices) if (s.state === 'provisioned') n += footprint(s).byNode.get(node)?.length ?? 0;
  return n;
}

export function endpointSpec(s: SliceRecord, linkId: string, node: string): DesiredEndpoint {
  const l = s.links.find((x) => x.id === linkId)!;
  return endpointSpecOf(s, l, l.endpoints.find((x) => x.physicalNode === node)!);
}

/** The same, given the link and the endpoint themselves (no search: what loops over a slice's links call). */
export function endpointSpecOf(s: SliceRecord, l: LinkRecord, e: EndpointRecord): DesiredEndpoint {
  const egressEnd = l.egress ? l.endpoints.find((x) => x.node === EGRESS_MEMBER) : undefined;
  // The router's end of an egress link: a default route via the egress node, per family it has.
  const routes: RouteVia[] = egressEnd && e !== egressEnd && l.egress!.defaultRoute
    ? egressEnd.addresses.map((a) => a.split('/')[0]!).map((via) => ({ dst: via.includes(':') ? '::/0' : '0.0.0.0/0', via }))
    : [];
  return {
    slice: s.slice, link: l.id, group: s.groupId, kind: l.kind, key: l.key,
    local: e.underlay, remotes: l.endpoints.filter((x) => x !== e).map((x) => x.underlay), lan: l.lan,
    netns: e.netns, ifname: e.ifname, addresses: e.addresses, mtu: l.mtu,
    adminDown: l.stopped, restart: l.restart,
    ...(e === egressEnd ? { egress: true } : {}),
    ...(routes.length ? { routes } : {}),
    ...(e.properties ? { properties: e.properties } : {}),
  };
}

/**
 * Where a slice's links are: its nodes, and the namespaces it uses on each.
 * Computed in one pass per links array (records are replaced, never changed
 * in place), since a 10,000-link slice's Provision, Delete and every push
 * ask for them several times.
 */
interface Footprint { nodes: string[]; namespaces: Map<string, string[]>; byNode: Map<string, Array<[LinkRecord, EndpointRecord]>> }
const FOOTPRINTS = new WeakMap<readonly LinkRecord[], Footprint>();

function footprint(s: SliceRecord): Footprint {
  let f = FOOTPRINTS.get(s.links);
  if (f) return f;
  const nodes = new Set<string>();
  const ns = new Map<string, Set<string>>();
  const byNode = new Map<string, Array<[LinkRecord, EndpointRecord]>>();
  for (const l of s.links) {
    for (const e of l.endpoints) {
      nodes.add(e.physicalNode);
      let here = byNode.get(e.physicalNode);
      if (!here) { here = []; byNode.set(e.physicalNode, here); }
      here.push([l, e]);
      if (e.node === EGRESS_MEMBER) continue;
      let on = ns.get(e.physicalNode);
      if (!on) { on = new Set(); ns.set(e.physicalNode, on); }
      on.add(e.netns);
    }
  }
  f = { nodes: [...nodes], namespaces: new Map([...ns].map(([n, set]) => [n, [...set]])), byNode };
  FOOTPRINTS.set(s.links, f);
  return f;
}

/** Namespaces a slice uses on a node (for teardown). */
export const namespacesOn = (s: SliceRecord, node: string): string[] => [...(footprint(s).namespaces.get(node) ?? [])];

export const nodesOf = (s: SliceRecord): string[] => [...footprint(s).nodes];
