// What a tunnel driver is. One file per kind implements this; index.ts
// registers them. Names follow the kernel's own words.

export type TunnelKind = 'vxlan' | 'gre' | 'gretap' | 'ip6gre' | 'ip6gretap' | 'etherip';
export const TUNNEL_KINDS: readonly TunnelKind[] = ['vxlan', 'gre', 'gretap', 'ip6gre', 'ip6gretap', 'etherip'];

/** A fully resolved tunnel device: every field decided before the kernel is touched. */
export interface TunnelSpec {
  kind: TunnelKind;
  name: string;
  /** Underlay source address on this node. */
  local: string;
  /** Underlay address of the far end (absent for a multipoint VXLAN: FDB entries instead). */
  remote?: string;
  /** GRE key (32 bit, both directions) or VXLAN VNI (24 bit). */
  key: number;
  /** VXLAN UDP destination port (default 4789). */
  dstPort?: number;
  ttl?: number;
  /**
   * Who carries it: absent = the kernel's driver; 'userspace' = visp-engine
   * (a TAP/TUN the engine creates), chosen by the capability probe.
   */
  dataplane?: 'userspace';
  /** Userspace only: the underlay MTU the engine sizes the device from (default 1500). */
  underlayMtu?: number;
}

export type Dataplane = 'kernel' | 'userspace';

/** The kind-specific part read back from the kernel (IFLA_INFO_DATA decoded). */
export type TunnelAttrs = Pick<TunnelSpec, 'local' | 'remote' | 'key' | 'dstPort' | 'ttl'> & { learning?: boolean };

export interface TunnelDriver {
  kind: TunnelKind;
  /** The kernel's IFLA_INFO_KIND, or undefined where Linux has no driver (etherip). */
  linkKind: string | undefined;
  /** Kernel module to name when the kind is missing. */
  module: string;
  /** 2: carries Ethernet (bridged); 3: carries IP (moved into the experiment itself). */
  layer: 2 | 3;
  /** Underlay family. 0: both (VXLAN picks by its addresses). */
  family: 0 | 4 | 6;
  /** One device serves many remotes (head-end replication FDB) — VXLAN only. */
  multipoint: boolean;
  /** Bytes the encapsulation adds on an underlay of this family (incl. inner Ethernet for layer 2). */
  overhead(family: 4 | 6): number;
  /** Largest key this kind carries. */
  maxKey: number;
  /**
   * What tells two links of this kind between the same two underlay
   * addresses apart on the wire, so what the allocator keeps unique per link:
   * a GRE key or a VXLAN VNI (from that IPAM identifier space, at most
   * maxKey), or 'underlayPair' for a kind whose header has no identifier:
   * the pair of underlay addresses itself is the identity, so a pair carries
   * at most one link of the kind (IPAM underlay pairs, space = the kind).
   */
  identifier: 'greKey' | 'vni' | 'underlayPair';
  /** IFLA_INFO_DATA attributes, byte-identical to what iproute2 sends for the same settings. */
  encode(spec: TunnelSpec): Buffer[];
  decode(infoData: Buffer | undefined): TunnelAttrs;
  /** Settings compared on reconcile (what encode sets, as decode reads it back). */
  expected(spec: TunnelSpec): TunnelAttrs;
}
