// A slice's topology as visp's own front ends (the YAML format, lab mode, the
// CLI) hold it: plain data in the kernel's and GENI's words. The gRPC shape is
// made from it at the edge (src/lab/to-api.ts); nothing here knows gRPC.
import type { AddressClass } from '../ipam/types.js';
import { TUNNEL_KINDS } from '../tunnel/kinds.js';
import type { TunnelKind } from '../tunnel/types.js';

export type Encapsulation = TunnelKind | 'auto';
/** The words a topology file takes: every registered kind (by its own name), and auto. */
export const ENCAPSULATIONS: readonly Encapsulation[] = [...TUNNEL_KINDS, 'auto'];

export type { AddressClass };

/** A router of the experiment, placed on a physical node. */
export interface TopologyNode {
  /** Unique in the slice, e.g. "r1". */
  id: string;
  /** The physical node (its agent's name). */
  node: string;
  /** Experiment namespace on that node; absent: the controller's default ("visp-<slice>-<id>"). */
  netns?: string;
}

export interface LinkMember {
  /** A TopologyNode id. */
  node: string;
  /** Absent: eth1, eth2, … in link order on that router. */
  ifname?: string;
  /** Explicit address without prefix length; absent: allocated. */
  ipv4?: string;
  ipv6?: string;
}

export interface Addressing {
  /** Absent: /31 (/127) point-to-point, sized to the members for a LAN. */
  prefixLength?: number;
}

export interface TopologyLink {
  id: string;
  /** 2: point-to-point; 3 or more: a LAN. */
  members: LinkMember[];
  encapsulation: Encapsulation;
  /** Absent: the most the encapsulation allows. */
  mtu?: number;
  addressClass: AddressClass;
  /** Absent: no addresses of that family. */
  ipv4?: Addressing;
  ipv6?: Addressing;
  /** An egress link: one endpoint (the slice's router); the other end is this egress node. */
  egress?: { node: string; routes: 'default' | 'full'; defaultRoute: boolean };
}

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

export interface Topology {
  /** The slice id (and, in lab mode, the lab's name). */
  name: string;
  nodes: TopologyNode[];
  links: TopologyLink[];
  /** Lab mode only (see LabEgressNode). */
  egress?: LabEgressNode[];
}

/** Physical nodes a topology places routers on, in order of first mention. */
export function physicalNodes(t: Topology): string[] {
  return [...new Set([...t.nodes.map((n) => n.node), ...t.links.flatMap((l) => (l.egress ? [l.egress.node] : [])), ...(t.egress ?? []).map((e) => e.node)])];
}
