// vxlan: Ethernet over UDP (RFC 7348), IPv4 or IPv6 underlay. Learning is
// off: forwarding is what we configure (remote, or head-end replication FDB
// entries for a multipoint LAN), never what floods teach the device.
import { IFLA_VXLAN } from '../netlink/constants.js';
import { attr, be16, bytesToIp, familyOf, ipToBytes, parseAttrs, readBe16, readU32, readU8, u32, u8 } from '../netlink/codec.js';
import type { TunnelAttrs, TunnelDriver, TunnelSettings } from './driver.js';

export const VXLAN_PORT = 4789;
const DEFAULT_TTL = 64;

export const vxlan: TunnelDriver<'vxlan'> = {
  kind: 'vxlan', layer: 2, family: 0, identifier: 'vni', keys: { first: 1, last: 0xffffff }, udpPort: VXLAN_PORT,
  lan: 'multipoint', autoRank: 10, proto: 'ENCAPSULATION_VXLAN', linkKind: 'vxlan', healthProbe: 'frame', module: 'vxlan',
  // Linux's vxlan_xmit_one answers path MTU only on a bridge port (netif_is_any_bridge_port).
  pmtuReplyAsBridgePort: true,
  overhead: (f) => (f === 6 ? 40 : 20) + 8 + 8 + 14,
  encode(s: TunnelSettings): Buffer[] {
    const v6 = familyOf(s.local) === 10;
    const a = [attr(IFLA_VXLAN.TTL, u8(s.ttl ?? DEFAULT_TTL)), attr(IFLA_VXLAN.ID, u32(s.key)),
      attr(v6 ? IFLA_VXLAN.LOCAL6 : IFLA_VXLAN.LOCAL, ipToBytes(s.local))];
    if (s.remote) a.push(attr(v6 ? IFLA_VXLAN.GROUP6 : IFLA_VXLAN.GROUP, ipToBytes(s.remote)));
    a.push(attr(IFLA_VXLAN.LEARNING, u8(0)), attr(IFLA_VXLAN.PORT, be16(s.dstPort ?? VXLAN_PORT)));
    return a;
  },
  decode(data: Buffer | undefined): TunnelAttrs {
    const a = data ? parseAttrs(data) : new Map<number, Buffer>();
    const local = a.get(IFLA_VXLAN.LOCAL) ?? a.get(IFLA_VXLAN.LOCAL6);
    const remote = a.get(IFLA_VXLAN.GROUP) ?? a.get(IFLA_VXLAN.GROUP6);
    const out: TunnelAttrs = { local: local ? bytesToIp(local) : '', key: readU32(a.get(IFLA_VXLAN.ID)) ?? -1 };
    if (remote) out.remote = bytesToIp(remote);
    const port = readBe16(a.get(IFLA_VXLAN.PORT));
    if (port !== undefined) out.dstPort = port;
    const ttl = readU8(a.get(IFLA_VXLAN.TTL));
    if (ttl !== undefined) out.ttl = ttl;
    const learning = readU8(a.get(IFLA_VXLAN.LEARNING));
    if (learning !== undefined) out.learning = learning !== 0;
    return out;
  },
  expected(s: TunnelSettings): TunnelAttrs {
    const out: TunnelAttrs = { local: s.local, key: s.key, dstPort: s.dstPort ?? VXLAN_PORT, ttl: s.ttl ?? DEFAULT_TTL, learning: false };
    if (s.remote) out.remote = s.remote;
    return out;
  },
};
