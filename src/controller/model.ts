// The controller's domain: a slice's request (topology) and what it became
// (links resolved to kinds, keys, addresses, endpoints on physical nodes).
// Plain data in the kernel's and GENI's words; the API edge converts. The
// topology here is the only topology model: the YAML topology file
// (src/topology) parses into it, and validate.ts checks it for both.
import type { AddressClass } from '../ipam/types.js';
import type { TunnelKind } from '../tunnel/types.js';
import type { EgressRoutes } from '../bgp/desired.js';
import type { Family, ProviderSpec } from '../bgp/reconcile.js';
import type { LinkProperties } from '../shape/properties.js';
import type { ShaperSupport } from '../shape/probe.js';
export type { LinkProperties };

export type Encapsulation = TunnelKind | 'auto';
export type AllocationState = 'allocated' | 'provisioned' | 'unallocated';
/** degraded, down: built, but link health says it carries not all, or no, traffic (src/health). */
export type OperationalState = 'pending' | 'configuring' | 'ready' | 'failed' | 'stopped' | 'degraded' | 'down';
export type OperationalAction = 'start' | 'stop' | 'restart';

/** A router of the experiment, placed on a physical node. */
export interface TopologyNode {
  /** Unique in the slice, e.g. "r1". */
  id: string;
  /** The physical node (its agent's name). */
  node: string;
  /** Experiment namespace on that node; absent: the controller's default ("visp-<slice>:<id>"). */
  netns?: string;
  /** Asked for in a GENI RSpec (src/rspec): the node's component_id and component_manager_id, echoed in the manifest RSpec. */
  rspec?: { componentId: string; componentManagerId?: string };
}
export interface Addressing {
  /** Absent: /31 (/127) point-to-point, sized to the members for a LAN. */
  prefixLength?: number;
}
export interface LinkMember {
  /** A TopologyNode id. */
  node: string;
  /** Absent: eth1, eth2, … in link order on that router. */
  ifname?: string;
  /** Explicit address without prefix length; absent: allocated. */
  ipv4?: string;
  ipv6?: string;
  /** What this member sends (its direction of the link), each field over the link's own. */
  properties?: LinkProperties;
  /** Asked for in a GENI RSpec (src/rspec): the interface's client_id, echoed in the manifest RSpec. */
  rspecInterface?: string;
}
/** An access link to the Internet through an egress node (see docs/egress.md). */
export interface EgressRequest {
  /** The egress node (a physical node with egress configured). */
  node: string;
  routes: EgressRoutes;
  /** Give the member a default route via the egress node (default true). */
  defaultRoute: boolean;
}
/** The egress node's end of an egress link, as a member id (not a valid topology node id, so it never clashes). */
export const EGRESS_MEMBER = '@egress';

export interface TopologyLink {
  id: string;
  /** Set: an egress link; `members` has the slice's router only. */
  egress?: EgressRequest;
  /** 2: point-to-point; 3 or more: a LAN. */
  members: LinkMember[];
  encapsulation: Encapsulation;
  /** Absent: the most the encapsulation allows. */
  mtu?: number;
  addressClass: AddressClass;
  /** Absent: no addresses of that family. */
  ipv4?: Addressing;
  ipv6?: Addressing;
  /** Every direction of the link (each member's sending side), unless a member gives its own (docs/links.md). */
  properties?: LinkProperties;
  /** Its capacity is reserved on every member node's underlay (admission control, docs/links.md); needs a capacity every way. */
  guaranteed?: boolean;
}
export interface Topology { nodes: TopologyNode[]; links: TopologyLink[] }

export interface SliceRequest { slice: string; topology: Topology; endTime?: string }

/** A run-time change of one link's properties (SetLinkProperties): all of them, replaced (absent: unshaped). */
export interface PropertiesChange {
  link: string;
  /** Every direction. */
  properties?: LinkProperties;
  /** Per member (a router id of the link): what it sends, each field over the link's. */
  members?: Array<{ node: string; properties?: LinkProperties }>;
}

/**
 * A change set for a later time (Emulab's timed events; docs/links.md, "At a
 * given time"): a link's properties, or an operational action on slivers.
 * Kept in its slice's record, so it survives a controller restart and goes
 * with the slice.
 */
export interface ScheduledChange {
  /** Unique in the slice ("c1", "c2", …, never reused); the order of ids is the order they were asked for. */
  id: string;
  /** When, ms since the epoch. */
  at: number;
  properties?: PropertiesChange;
  action?: { action: OperationalAction; slivers: string[] };
}

/** One member of a link, placed. */
export interface EndpointRecord {
  node: string;          // topology node id
  physicalNode: string;
  netns: string;
  ifname: string;
  addresses: string[];
  underlay: string;
  /** What this endpoint sends, as shaped on its node (the link's and its member's, merged); absent: unshaped. */
  properties?: LinkProperties;
}

export interface LinkRecord {
  id: string;
  kind: TunnelKind;
  key: number;
  mtu: number;
  lan: boolean;
  addressClass: AddressClass;
  ipv4Subnet?: string;
  ipv6Subnet?: string;
  endpoints: EndpointRecord[];
  stopped: boolean;
  restart: number;
  egress?: EgressRequest;
  /** Its endpoints' capacities are reserved on their nodes' underlays (admission.ts). */
  guaranteed?: boolean;
}

export interface SliceRecord {
  slice: string;
  /** The AM that allocated it (spiffe://…/am/<name>); only it sees the slice on the Links API. Absent: allocated before owners were recorded. */
  owner?: string;
  state: 'allocated' | 'provisioned' | 'shutdown';
  request: Topology;
  endTime: number;
  allocatedAt: number;
  expiresAt?: number;
  groupId: number;
  blocks: Array<{ addressClass: AddressClass; prefix: string; pool: string }>;
  links: LinkRecord[];
  /** Bumped on every change an agent must act on (see Controller.generation). */
  generation: number;
  /** Changes set for later, by time (then by id). */
  scheduled?: ScheduledChange[];
  /** How many changes were ever scheduled for the slice: the next one's id is "c<this + 1>-<allocatedAt, base 36>". */
  scheduledCount?: number;
}

/** An egress node's BGP identity and providers (Operator.SetEgressNode). */
export interface EgressConfig {
  node: string;
  asn: number;
  routerId: string;
  providers: ProviderSpec[];
  /** Most specific prefix length announced; default: the public pools' block length. */
  maxLength?: Partial<Record<Family, number>>;
}

/** Registered node: what its agent told us, kept across controller restarts. */
export interface NodeRecord {
  name: string;
  underlay: string[];
  capabilities: Array<{ kind: TunnelKind; supported: boolean; reason?: string }>;
  /** The qdiscs its kernel has for shaping links; absent: an agent that did not say (not refused for it). */
  shapers?: ShaperSupport[];
  /** What its underlay carries, bit/s, for guaranteed links; absent: it guarantees nothing. */
  underlayCapacity?: number;
  lastSeen: number;
}

export interface EndpointStatus extends EndpointRecord { state: OperationalState; error?: string; bridge?: string; devices: string[]; remotes: string[] }
export interface SliverStatus {
  id: string;
  link: LinkRecord;
  state: OperationalState;
  error?: string;
  endpoints: EndpointStatus[];
}
export interface Manifest {
  slice: string;
  allocation: AllocationState;
  state: OperationalState;
  endTime: number;
  expiresAt?: number;
  groupId: number;
  blocks: SliceRecord['blocks'];
  slivers: SliverStatus[];
  /** Underlay capacity its guaranteed links reserve, per node (bit/s). */
  reservations?: Array<{ node: string; send: number; receive: number }>;
  /** Changes set for later, by time. */
  scheduled?: ScheduledChange[];
}

export const sliverId = (slice: string, link: string): string => `${slice}/${link}`;
