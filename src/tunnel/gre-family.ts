// Shared IFLA_GRE_* encoding for gre, gretap, ip6gre and ip6gretap: a key in
// both directions (RFC 2890), local/remote endpoints, a TTL. Attribute order
// and bytes follow iproute2's link_gre.c / link_gre6.c.
import { GRE_FLAG_KEY_BE, IFLA_GRE, IP6_TNL_F_IGN_ENCAP_LIMIT } from '../netlink/constants.js';
import { attr, be16, be32, bytesToIp, ipToBytes, parseAttrs, readBe16, readBe32, readU8, u32, u8 } from '../netlink/codec.js';
import type { TunnelAttrs, TunnelSettings } from './driver.js';

export const DEFAULT_TTL = 64;
/** GRE header with the key option: 4 + 4 bytes. */
export const GRE_KEYED_HDR = 8;

export function encodeGre(spec: TunnelSettings, v6: boolean): Buffer[] {
  const a = [
    attr(IFLA_GRE.IKEY, be32(spec.key)),
    attr(IFLA_GRE.OKEY, be32(spec.key)),
    attr(IFLA_GRE.IFLAGS, be16(GRE_FLAG_KEY_BE)),
    attr(IFLA_GRE.OFLAGS, be16(GRE_FLAG_KEY_BE)),
    attr(IFLA_GRE.LOCAL, ipToBytes(spec.local)),
    attr(IFLA_GRE.REMOTE, ipToBytes(spec.remote!)),
  ];
  if (!v6) a.push(attr(IFLA_GRE.PMTUDISC, u8(1)));
  a.push(attr(IFLA_GRE.TTL, u8(spec.ttl ?? DEFAULT_TTL)));
  if (v6) {
    // No RFC 2473 encapsulation-limit option: a fixed, smaller overhead
    // (iproute2's "encaplimit none" sends exactly these two).
    a.push(attr(IFLA_GRE.ENCAP_LIMIT, u8(4)), attr(IFLA_GRE.FLAGS, u32(IP6_TNL_F_IGN_ENCAP_LIMIT)));
  }
  return a;
}

export function decodeGre(data: Buffer | undefined): TunnelAttrs {
  const a = data ? parseAttrs(data) : new Map<number, Buffer>();
  const local = a.get(IFLA_GRE.LOCAL);
  const remote = a.get(IFLA_GRE.REMOTE);
  const keyed = ((readBe16(a.get(IFLA_GRE.IFLAGS)) ?? 0) & GRE_FLAG_KEY_BE) !== 0;
  const ikey = readBe32(a.get(IFLA_GRE.IKEY)) ?? 0;
  const okey = readBe32(a.get(IFLA_GRE.OKEY)) ?? 0;
  const out: TunnelAttrs = {
    local: local ? bytesToIp(local) : '',
    // A key that differs by direction is not ours: report it as no match.
    key: keyed && ikey === okey ? ikey : -1,
  };
  if (remote) out.remote = bytesToIp(remote);
  const ttl = readU8(a.get(IFLA_GRE.TTL));
  if (ttl !== undefined) out.ttl = ttl;
  return out;
}

export function expectedGre(spec: TunnelSettings): TunnelAttrs {
  const out: TunnelAttrs = { local: spec.local, key: spec.key, ttl: spec.ttl ?? DEFAULT_TTL };
  if (spec.remote) out.remote = spec.remote;
  return out;
}
