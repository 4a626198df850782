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

/**
 * Create the anchor, or put right the one there: marked, and down (up, it
 * would forward between its ports, so between links and slices). One that
 * exists already (another endpoint's pass made it) is fine.
 */
export async function createAnchor(s: NetlinkSocket, signal?: AbortSignal): Promise<void> {
  const what = `bridge ${ANCHOR}`;
  try {
    await linkAdd(s, { name: ANCHOR, kind: 'bridge', data: [attr(IFLA_BR.STP_STATE, u32(0)), attr(IFLA_BR.MCAST_SNOOPING, u8(0))], up: false }, signal, what);
  } catch (e) {
    if (!(e instanceof KernelError && e.errnoName === 'EEXIST')) throw e;
  }
  await linkSet(s, ANCHOR, { alias: ANCHOR_ALIAS, noIpv6LinkLocal: true, up: false }, signal, what);
}

/**
 * What is wrong with the anchor as found, or [] when it is as it should be.
 * A bridge of its name without any alias is taken for one whose creation
 * was interrupted before its mark (the kernel takes no alias on create).
 */
export function anchorProblems(l: { kind?: string | undefined; alias?: string | undefined; up: boolean }): string[] {
  const why: string[] = [];
  if (!l.alias) why.push('not marked (its creation was interrupted)');
  if (l.up) why.push('up → down (up, it would forward between links)');
  return why;
}

/** Whether an interface of the anchor's name is the anchor (or one interrupted before its mark), not someone else's. */
export const isAnchor = (l: { kind?: string | undefined; alias?: string | undefined }): boolean => l.kind === 'bridge' && (!l.alias || l.alias === ANCHOR_ALIAS);
