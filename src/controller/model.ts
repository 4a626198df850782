// The controller's domain: a slice's request (topology) and what it became
// (links resolved to kinds, keys, addresses, endpoints on physical nodes).
// Plain data in the kernel's and GENI's words; the API edge converts.
import type { AddressClass } from '../ipam/types.js';
import type { TunnelKind } from '../tunnel/types.js';

export type Encapsulation = TunnelKind | 'auto';
export type AllocationState = 'allocated' | 'provisioned' | 'unallocated';
export type OperationalState = 'pending' | 'configuring' | 'ready' | 'failed' | 'stopped';
export type OperationalAction = 'start' | 'stop' | 'restart';

export interface TopologyNode { id: string; node: string; netns?: string }
export interface Addressing { prefixLength?: number }
export interface LinkMember { node: string; ifname?: string; ipv4?: string; ipv6?: string }
export interface TopologyLink {
  id: string;
  members: LinkMember[];
  encapsulation: Encapsulation;
  mtu?: number;
  addressClass: AddressClass;
  /** Absent: no addresses of that family. */
  ipv4?: Addressing;
  ipv6?: Addressing;
}
export interface Topology { nodes: TopologyNode[]; links: TopologyLink[] }

export interface SliceRequest { slice: string; topology: Topology; endTime?: string }

/** One member of a link, placed. */
export interface EndpointRecord {
  node: string;          // topology node id
  physicalNode: string;
  netns: string;
  ifname: string;
  addresses: string[];
  underlay: string;
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
}

export interface SliceRecord {
  slice: string;
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
}

/** Registered node: what its agent told us, kept across controller restarts. */
export interface NodeRecord {
  name: string;
  underlay: string[];
  capabilities: Array<{ kind: TunnelKind; supported: boolean; reason?: string }>;
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
}

export const sliverId = (slice: string, link: string): string => `${slice}/${link}`;
