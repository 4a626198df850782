// What an egress node is asked to do, and what it reports: plain data shared
// by the controller (which computes it) and the agent (which carries it out).
import type { Family } from '../ipam/prefix.js';

/** One provider (eBGP neighbour) of an egress node. */
export interface ProviderSpec {
  /** Neighbour address (IPv4 or IPv6). */
  address: string;
  asn: number;
  /** TCP MD5 password (RFC 2385). */
  password?: string;
  families: Family[];
  /** Per family: more received prefixes than this and GoBGP closes the session. */
  maxPrefixes: number;
  /** Seconds between connection attempts (GoBGP's default is 120). */
  connectRetrySec?: number;
  /**
   * Our end of the session: the address gobgpd connects from. Unset: the
   * kernel picks the source address of its route to the provider, which is
   * what the provider must then expect; set it when the node has several.
   */
  localAddress?: string;
}

export type EgressRoutes = 'default' | 'full';

/** One slice's egress on one egress node. */
export interface EgressSliceDesired {
  slice: string;
  /**
   * Its routing table on the egress node: the slice's link-group id. IPAM
   * makes it unique per slice and never below 4096, so it is never the
   * main, local or default table.
   */
  table: number;
  /** The slice's public blocks: announced to the providers, and policy-routed into `table`. */
  blocks: string[];
  /** The slice router's address(es) on the egress link, and the link's bridge here. */
  nextHops: Array<{ address: string; dev: string }>;
  routes: EgressRoutes;
}

export interface EgressDesired {
  asn: number;
  routerId: string;
  providers: ProviderSpec[];
  /** Most specific length ever announced, per family. */
  maxLength: Record<Family, number>;
  slices: EgressSliceDesired[];
}

export interface BgpPeerStatus {
  address: string;
  asn: number;
  state: string;
  /** ms since the epoch when it reached its current state (0: unknown). */
  since: number;
  received: number;
  accepted: number;
  advertised: number;
}

export interface EgressSliceStatus { slice: string; announced: string[]; routesInstalled: number; table: number }

export interface EgressStatus {
  enabled: boolean;
  running: boolean;
  error?: string;
  pid?: number;
  peers: BgpPeerStatus[];
  slices: EgressSliceStatus[];
}
