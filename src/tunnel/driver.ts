// What a tunnel driver is. One file per kind implements this and says,
// as data, everything the rest of visp needs to know about the kind
// (KindDescriptor); registry.ts lists the drivers and everything else
// derives from that list (kinds.ts). This file imports nothing at run time,
// so reading a descriptor never loads a socket.
import type { EngineKind } from '../dataplane/engine-client.js';

/**
 * The facts about one kind, as plain data: what the controller, the API
 * edge, the topology parser and placement read. Names follow the kernel's
 * own words.
 */
export interface KindDescriptor<K extends string = string> {
  kind: K;
  /** 2: carries Ethernet (bridged); 3: carries IP (moved into the experiment itself). */
  layer: 2 | 3;
  /** Underlay family. 0: both (picked by the addresses). */
  family: 0 | 4 | 6;
  /**
   * What tells two links of this kind between the same two underlay
   * addresses apart on the wire, so what the allocator keeps unique per link:
   * a GRE key or a VXLAN VNI (from that IPAM identifier space, within
   * `keys`), or 'underlayPair' for a kind whose header has no identifier:
   * the pair of underlay addresses itself is the identity, so a pair carries
   * at most one link of the kind (IPAM underlay pairs, space = the kind).
   */
  identifier: 'greKey' | 'vni' | 'underlayPair';
  /** The identifier values the wire (and the agent) accepts; 0–0 for a kind without one (it carries key 0). */
  keys: { first: number; last: number };
  /** The UDP destination port of a UDP encapsulation (the default; a link may set another); absent: not over UDP. */
  udpPort?: number;
  /**
   * How a link of more than two members is carried. multipoint: one device,
   * head-end replication FDB entries per remote; mesh: one point-to-point
   * tunnel per remote on the link's bridge, ports isolated (split horizon);
   * none: point-to-point only (every layer-3 kind).
   */
  lan: 'multipoint' | 'mesh' | 'none';
  /** Where `auto` may pick this kind, lower first; absent: auto never picks it (layer 3: an auto link is always bridged). */
  autoRank?: number;
  /** The value of the API's Encapsulation enum (proto/visp/v1/types.proto) for this kind. */
  proto: `ENCAPSULATION_${string}`;
  /** The visp-engine kind that carries it where the kernel has no driver; absent: kernel only. */
  engine?: EngineKind;
  /** The kernel's IFLA_INFO_KIND, or undefined where Linux has no driver (etherip). */
  linkKind: string | undefined;
  /**
   * How link health probes a link of this kind (src/health, docs/operations.md).
   * 'frame': the node-side tunnel device carries Ethernet, so a probe frame
   * sent on it travels the link's own encapsulation and arrives on the far
   * end's device, where the node (not the experiment) answers it. Absent: not
   * probed; say why in the driver's file.
   */
  healthProbe?: 'frame';
  /**
   * The kernel's device answers a frame too big for the underlay path
   * ("fragmentation needed" / "packet too big" back to its sender) only
   * while it is a bridge port (skb_tunnel_check_pmtu's `reply`); without
   * that it sends the frame anyway, fragmenting the outer packet. A device
   * of such a kind that is joined by redirect (no link bridge) is also a
   * port of the node's anchor bridge (src/bridge/anchor.ts), so it keeps
   * answering. Absent: the kind's device answers, or never does, either way.
   */
  pmtuReplyAsBridgePort?: true;
  /** Kernel module to name when the kind is missing. */
  module: string;
  /** Bytes the encapsulation adds on an underlay of this family (incl. inner Ethernet for layer 2). */
  overhead(family: 4 | 6): number;
}

/** The settings of one tunnel device a driver encodes (a TunnelSpec without its kind). */
export interface TunnelSettings {
  name: string;
  /** Underlay source address on this node. */
  local: string;
  /** Underlay address of the far end (absent for a multipoint VXLAN: FDB entries instead). */
  remote?: string;
  /** GRE key (32 bit, both directions) or VXLAN VNI (24 bit); 0 for a kind without an identifier. */
  key: number;
  /** UDP destination port (a kind with udpPort; default that). */
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

/** The kind-specific part read back from the kernel (IFLA_INFO_DATA decoded). */
export type TunnelAttrs = Pick<TunnelSettings, 'local' | 'remote' | 'key' | 'dstPort' | 'ttl'> & { learning?: boolean };

/** A kind's descriptor and its kernel codec. */
export interface TunnelDriver<K extends string = string> extends KindDescriptor<K> {
  /** IFLA_INFO_DATA attributes, byte-identical to what iproute2 sends for the same settings. */
  encode(spec: TunnelSettings): Buffer[];
  decode(infoData: Buffer | undefined): TunnelAttrs;
  /** Settings compared on reconcile (what encode sets, as decode reads it back). */
  expected(spec: TunnelSettings): TunnelAttrs;
}
