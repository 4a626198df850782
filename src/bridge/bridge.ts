// Per-link bridges and their ports. A link endpoint's bridge joins the
// tunnel port(s) and the host end of the experiment's veth. For a LAN over
// point-to-point tunnels the tunnel ports are isolated from each other
// (split horizon): a frame from one tunnel never leaves by another, so the
// mesh has no loops and needs no STP.
import { IFLA_BR, IFLA_BRPORT } from '../netlink/constants.js';
import { attr, parseAttrs, readU8, u32, u8 } from '../netlink/codec.js';
import { linkAdd, linkSet } from '../netlink/link.js';
import type { NetlinkSocket } from '../netlink/socket.js';
import { aliasOf, type Mark } from '../ownership.js';

export interface PortFlags { isolated: boolean; learning: boolean }

/**
 * `l3`: the bridge is also the node's own interface on the link (the egress
 * node's end of an egress link, which carries the node's addresses and
 * routes the slice's traffic). It then keeps its IPv6 link-local address:
 * the kernel solicits a neighbour for forwarded traffic from a link-local
 * source, and without one it never resolves the experiment's address again
 * once its neighbour entry has expired (replies from the Internet were
 * dropped a few seconds after an agent restart).
 */
export async function createBridge(s: NetlinkSocket, name: string, mtu: number, mark: Mark, signal?: AbortSignal, l3 = false): Promise<void> {
  const what = `bridge ${name}`;
  await Promise.all([
    // STP off: each bridge is a leaf of one link, loops are prevented by
    // construction (split horizon), and STP would hold ports for 30 s.
    // Created down, so no IPv6 link-local is generated before addrgenmode
    // none is set: node-side devices must not speak (RS, MLD) into the
    // experiment's link. All three messages share one datagram.
    linkAdd(s, { name, kind: 'bridge', data: [attr(IFLA_BR.STP_STATE, u32(0))], mtu, group: mark.group, up: false }, signal, what),
    linkSet(s, name, { alias: aliasOf(mark), ...(l3 ? {} : { noIpv6LinkLocal: true }) }, signal, what),
    linkSet(s, name, { up: true }, signal, what),
  ]);
}

export const encodePortFlags = (f: PortFlags): Buffer[] =>
  [attr(IFLA_BRPORT.LEARNING, u8(f.learning ? 1 : 0)), attr(IFLA_BRPORT.ISOLATED, u8(f.isolated ? 1 : 0))];

/** Bridge port flags from a port's IFLA_INFO_SLAVE_DATA (undefined if not a bridge port). */
export function decodePortFlags(slaveData: Buffer | undefined): PortFlags | undefined {
  if (!slaveData) return undefined;
  const a = parseAttrs(slaveData);
  return { learning: readU8(a.get(IFLA_BRPORT.LEARNING)) === 1, isolated: readU8(a.get(IFLA_BRPORT.ISOLATED)) === 1 };
}

export async function setPortFlags(s: NetlinkSocket, port: number | string, f: PortFlags, signal?: AbortSignal): Promise<void> {
  await linkSet(s, port, { slave: { kind: 'bridge', data: encodePortFlags(f) } }, signal, `bridge port ${port}`);
}
