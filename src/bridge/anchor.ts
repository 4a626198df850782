// The node's anchor bridge: one bridge per node namespace, always down,
// that carries nothing. Why it exists: Linux's VXLAN device answers a frame
// too big for the underlay path with "fragmentation needed" / "packet too
// big" to its sender only while the device is a bridge port; a device
// joined to its experiment by redirect (redirect.ts) is no bridge's port,
// and would fragment the outer packet instead, silently, so path MTU
// discovery across a shrunk underlay would stop working (docs/dataplane.md,
// issue 12). Being this bridge's port is all it takes: the answer is
// delivered as if received on the device, and its redirect takes it to the
// experiment.
//
// It carries nothing because it is down: its ports are disabled, so the
// few frames that pass a port's tc ingress (the probe ethertype, which the
// node's probe socket has already read) are dropped by the bridge, and it
// forwards nothing between ports (between links, between slices). It is the
// node's, not a slice's: it has no slice's alias or group, so a slice's
// group delete leaves it; the node kernel deletes it once a teardown leaves
// it without ports. (A bridge costs an rcu_barrier() when it is deleted:
// once per node that empties, not once per link.)
import { IFLA_BR } from '../netlink/constants.js';
import { attr, u32, u8 } from '../netlink/codec.js';
import { linkAdd, linkSet } from '../netlink/link.js';
import type { NetlinkSocket } from '../netlink/socket.js';
import { KernelError } from '../errors.js';

export const ANCHOR = 'visp-pmtu';
/** Its mark: not `visp:` (no slice's), but plainly visp's. */
export const ANCHOR_ALIAS = 'visp node: path-MTU anchor, carries nothing';

/** Create the anchor (down); one that exists already (another endpoint's pass made it) is fine. */
export async function createAnchor(s: NetlinkSocket, signal?: AbortSignal): Promise<void> {
  const what = `bridge ${ANCHOR}`;
  try {
    await linkAdd(s, { name: ANCHOR, kind: 'bridge', data: [attr(IFLA_BR.STP_STATE, u32(0)), attr(IFLA_BR.MCAST_SNOOPING, u8(0))], up: false }, signal, what);
  } catch (e) {
    if (!(e instanceof KernelError && e.errnoName === 'EEXIST')) throw e;
  }
  await linkSet(s, ANCHOR, { alias: ANCHOR_ALIAS, noIpv6LinkLocal: true }, signal, what);
}
