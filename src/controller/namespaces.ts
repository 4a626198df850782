// Who may use which namespace, checked at Allocate (and Plan) before
// anything is reserved: a namespace belongs to exactly one slice, or to the
// node. The agent checks again before it touches one (the mark on the
// namespace itself, src/endpoint/node.ts); this is the early, exact answer
// an aggregate manager can show the experimenter. docs/ownership.md.
//
// Namespace names are compared across the whole testbed, not per node: in
// lab mode every node is a namespace of one host and they all share
// /run/netns, and a name that is unique everywhere is never ambiguous.
import { AlreadyExistsError, InvalidSpecError } from '../errors.js';
import { EGRESS_MEMBER, type SliceRecord, type Topology } from './model.js';
import type { PlacedLink } from './place.js';

/**
 * Throws when the slice's placed topology uses a namespace it may not:
 * - one another router of the same slice uses (INVALID_ARGUMENT);
 * - one another slice holds (ALREADY_EXISTS, "is taken": another tenant's
 *   slice is never named);
 * - one its physical node reserves (ALREADY_EXISTS): the agent's own
 *   namespace and every namespace there that visp did not create, as the
 *   node's agent reports them (`reservedByNode`; a node not in it has not
 *   reported, and its agent's own check is then the only one).
 * The field is the router's: `topology.nodes[i].netns`, also when the name
 * is the one visp derives (the router named none).
 */
export function checkNamespaces(
  slice: string,
  topology: Topology,
  placed: readonly PlacedLink[],
  existing: Iterable<SliceRecord>,
  reservedByNode: ReadonlyMap<string, Iterable<string>>,
): void {
  const index = new Map(topology.nodes.map((n, i) => [n.id, i]));
  // Each router once, with its namespace and physical node, in topology order.
  const routers = new Map<string, { netns: string; physicalNode: string }>();
  for (const p of placed) {
    for (const m of p.members) {
      if (m.node === EGRESS_MEMBER || !m.netns || routers.has(m.node)) continue;
      routers.set(m.node, { netns: m.netns, physicalNode: m.physicalNode });
    }
  }
  const ordered = [...routers].sort(([a], [b]) => index.get(a)! - index.get(b)!);

  const held = new Map<string, string>();   // netns → holding slice
  for (const s of existing) {
    for (const l of s.links) for (const e of l.endpoints) if (e.netns && e.node !== EGRESS_MEMBER) held.set(e.netns, s.slice);
  }
  const reserved = new Map<string, Set<string>>();
  const reservedOn = (node: string): Set<string> => {
    let r = reserved.get(node);
    if (!r) { r = new Set(reservedByNode.get(node) ?? []); reserved.set(node, r); }
    return r;
  };

  const mine = new Map<string, string>();   // netns → router of this slice
  for (const [router, { netns, physicalNode }] of ordered) {
    const i = index.get(router)!;
    const field = `topology.nodes[${i}].netns`;
    const named = !!topology.nodes[i]!.netns;
    const what = named ? `namespace "${netns}"` : `namespace "${netns}" (the name visp gives router "${router}")`;
    const other = mine.get(netns);
    if (other !== undefined) throw new InvalidSpecError(`${field}: ${what} is already used by router "${other}" of this slice; each router needs its own`, { field });
    mine.set(netns, router);
    const holder = held.get(netns);
    if (holder === slice) throw new AlreadyExistsError(`${field}: ${what} is already used by slice "${slice}"`, { field });
    if (holder !== undefined) throw new AlreadyExistsError(`${field}: ${what} is taken; choose another name`, { field });
    if (reservedOn(physicalNode).has(netns)) {
      throw new AlreadyExistsError(`${field}: ${what} exists on node ${physicalNode} and is the node's own (its underlay namespace, or one visp did not create); visp never uses it`, { field });
    }
  }
}
