// Link properties where the controller meets the nodes (docs/links.md): what
// each endpoint of a link sends, whether its node can shape that (a kernel
// without netem refuses latency, FAILED_PRECONDITION naming sch_netem, as a
// missing tunnel module is refused), and a link's properties changed at run
// time (SetLinkProperties): validated as at Allocate, checked against the
// nodes, written into the slice's record; the agents then change the
// shapers in place and leave the link's devices as they are.
import { IncompatibleStateError, InvalidSpecError, NotFoundError } from '../errors.js';
import { effectiveProperties, PROPERTY_FIELD, type LinkProperties } from '../shape/properties.js';
import { shapingRefusal } from '../shape/probe.js';
import { EGRESS_MEMBER, type LinkRecord, type NodeRecord, type PropertiesChange, type SliceRecord, type TopologyLink } from './model.js';
export type { PropertiesChange };
import { checkLinkProperties } from './validate.js';

/** What member `j` of link `l` sends; a `j` past the members is the egress end of an egress link (the link's own properties). */
export const memberProperties = (l: Pick<TopologyLink, 'properties' | 'members'>, j: number): LinkProperties | undefined =>
  effectiveProperties(l.properties, l.members[j]?.properties);

/**
 * Refuse a link whose properties need a qdisc that a member's node lacks.
 * `recs` are the members' node records in member order (then the egress
 * node). Only connected nodes are judged, and only those that said what
 * they can shape: an offline node's agent refuses the endpoint itself.
 */
export function checkShaping(l: Pick<TopologyLink, 'properties' | 'members'>, recs: ReadonlyArray<NodeRecord | undefined>, connected: (node: string) => boolean, f: string): void {
  recs.forEach((r, j) => {
    if (!r || !connected(r.name)) return;
    const no = shapingRefusal(memberProperties(l, j), r.shapers);
    if (!no) return;
    const own = l.members[j]?.properties?.[no.property] !== undefined;
    const field = [f, own ? `members[${j}]` : '', 'properties', PROPERTY_FIELD[no.property]].filter(Boolean).join('.');
    throw new IncompatibleStateError(`${field}: node ${r.name} cannot enforce it: ${no.why}`, { field });
  });
}


/**
 * The slice with link `c.link`'s properties replaced, in its request and in
 * its link record's endpoints. Refused like an Allocate would refuse them;
 * also on a layer-3 link (its kind is resolved by now, auto or not).
 */
export function withLinkProperties(s: SliceRecord, c: PropertiesChange, nodes: ReadonlyMap<string, NodeRecord>, connected: (node: string) => boolean): SliceRecord {
  const i = s.links.findIndex((l) => l.id === c.link);
  const ti = s.request.links.findIndex((l) => l.id === c.link);
  if (i < 0 || ti < 0) throw new NotFoundError(`link: no link "${c.link}" in slice "${s.slice}"`, { field: 'link' });
  const rec = s.links[i]!;
  const req = s.request.links[ti]!;
  const given = new Map<string, LinkProperties | undefined>();
  (c.members ?? []).forEach((m, k) => {
    if (!req.members.some((x) => x.node === m.node)) {
      throw new InvalidSpecError(`members[${k}].node: "${m.node}" is not a member of link "${c.link}" (${req.members.map((x) => x.node).join(', ')})`, { field: `members[${k}].node` });
    }
    if (given.has(m.node)) throw new InvalidSpecError(`members[${k}].node: "${m.node}" is given twice`, { field: `members[${k}].node` });
    given.set(m.node, m.properties);
  });
  const next: TopologyLink = {
    ...req,
    members: req.members.map((m) => {
      const { properties: _old, ...rest } = m;
      const p = given.get(m.node);
      return p ? { ...rest, properties: p } : rest;
    }),
  };
  delete next.properties;
  if (c.properties) next.properties = c.properties;
  // The validator's rules, with the link's resolved kind (a layer-3 kind refuses properties); fields named as in
  // this request (a member by its place in the request's members, not in the link's).
  const inRequest = (text: string): string => text.replace(/^link\./, '').replace(/^members\[(\d+)\]/, (_m, j: string) =>
    `members[${(c.members ?? []).findIndex((x) => x.node === next.members[Number(j)]?.node)}]`);
  try {
    checkLinkProperties({ ...next, encapsulation: rec.kind }, 'link');
  } catch (e) {
    if (e instanceof InvalidSpecError && e.field?.startsWith('link.')) throw new InvalidSpecError(inRequest(e.message), { field: inRequest(e.field), cause: e });
    throw e;
  }
  try {
    checkShaping(next, rec.endpoints.map((e) => nodes.get(e.physicalNode)), connected, 'link');
  } catch (e) {
    if (e instanceof IncompatibleStateError && e.field) throw new IncompatibleStateError(inRequest(e.message), { field: inRequest(e.field), cause: e });
    throw e;
  }
  const endpoints = rec.endpoints.map((e) => {
    const { properties: _old, ...rest } = e;
    const j = e.node === EGRESS_MEMBER ? next.members.length : next.members.findIndex((m) => m.node === e.node);
    const p = memberProperties(next, j);
    return p ? { ...rest, properties: p } : rest;
  });
  const link: LinkRecord = { ...rec, endpoints };
  return {
    ...s,
    request: { ...s.request, links: s.request.links.map((l, k) => (k === ti ? next : l)) },
    links: s.links.map((l, k) => (k === i ? link : l)),
  };
}
