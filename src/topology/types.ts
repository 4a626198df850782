// What a topology file holds: a slice's name, its topology in the
// controller's model (src/controller/model.ts, the one topology model) and,
// for lab mode, the egress nodes to emulate. The gRPC shape is made from the
// model at the edge (src/lab/to-api.ts); nothing here knows gRPC.
import type { Encapsulation, Topology } from '../controller/model.js';
import { TUNNEL_KINDS } from '../tunnel/kinds.js';

/** The words a topology file takes: every registered kind (by its own name), and auto. */
export const ENCAPSULATIONS: readonly Encapsulation[] = [...TUNNEL_KINDS, 'auto'];

/**
 * Lab mode: an egress node and the providers to emulate for it (each a
 * namespace running BIRD 2). On a testbed the operator configures egress
 * nodes with `visp egress set` instead.
 */
export interface LabEgressNode {
  node: string;
  asn: number;
  /** Default: the node's underlay IPv4 address. */
  routerId?: string;
  providers: Array<{ name: string; asn: number }>;
}

export interface TopologyFile {
  /** The slice id (and, in lab mode, the lab's name). */
  name: string;
  topology: Topology;
  /** Lab mode only (see LabEgressNode). */
  egress?: LabEgressNode[];
}

/** Physical nodes a topology file places routers on, in order of first mention. */
export function physicalNodes(f: TopologyFile): string[] {
  const t = f.topology;
  return [...new Set([...t.nodes.map((n) => n.node), ...t.links.flatMap((l) => (l.egress ? [l.egress.node] : [])), ...(f.egress ?? []).map((e) => e.node)])];
}
