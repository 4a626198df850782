// A device's link speed, asked of ethtool over generic netlink (linux/
// genetlink.h, linux/ethtool_netlink.h): first the "ethtool" family's id
// from the generic netlink controller, then LINKMODES_GET for the device.
// In the socket's namespace, so an agent in a node namespace asks about its
// own underlay device (sysfs would answer for the namespace it was mounted in).
import { attr, nested, parseAttrs, readU16, readU32, str } from './codec.js';
import { NetlinkSocket } from './socket.js';
import { KernelError } from '../errors.js';

const NETLINK_GENERIC = 16;
const GENL_ID_CTRL = 16;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR = { FAMILY_ID: 1, FAMILY_NAME: 2 } as const;
const ETHTOOL_MSG_LINKMODES_GET = 4;
const ETHTOOL_A_LINKMODES = { HEADER: 1, SPEED: 5 } as const;
const ETHTOOL_A_HEADER_DEV_NAME = 2;
const SPEED_UNKNOWN = 0xffffffff;
/** struct genlmsghdr: cmd, version, reserved. */
const GENL_HDRLEN = 4;
const genlmsghdr = (cmd: number, version: number): Buffer => Buffer.from([cmd, version, 0, 0]);

/**
 * The device's link speed in bit/s, or undefined when the kernel does not
 * know one (no carrier, a virtual device without a nominal speed, no ethtool
 * netlink: kernels before 5.6). veth reports 10 Gbit/s.
 */
export async function linkSpeed(dev: string, netns?: string, signal?: AbortSignal): Promise<number | undefined> {
  const s = new NetlinkSocket({ protocol: NETLINK_GENERIC, ...(netns ? { netns } : {}) });
  try {
    const fam = await s.request(GENL_ID_CTRL, 0, Buffer.concat([genlmsghdr(CTRL_CMD_GETFAMILY, 1), attr(CTRL_ATTR.FAMILY_NAME, str('ethtool'))]),
      { op: 'genlFamily', object: 'ethtool', signal });
    const id = fam[0] ? readU16(parseAttrs(fam[0].payload, GENL_HDRLEN).get(CTRL_ATTR.FAMILY_ID)) : undefined;
    if (id === undefined) return undefined;
    const r = await s.request(id, 0, Buffer.concat([genlmsghdr(ETHTOOL_MSG_LINKMODES_GET, 1),
      nested(ETHTOOL_A_LINKMODES.HEADER, [attr(ETHTOOL_A_HEADER_DEV_NAME, str(dev))], true)]), { op: 'ethtoolLinkModes', object: dev, signal });
    const speed = r[0] ? readU32(parseAttrs(r[0].payload, GENL_HDRLEN).get(ETHTOOL_A_LINKMODES.SPEED)) : undefined;
    return speed === undefined || speed === SPEED_UNKNOWN || speed === 0 ? undefined : speed * 1e6;
  } catch (e) {
    // No ethtool family (an old kernel), or a device the driver cannot tell about.
    if (e instanceof KernelError && ['ENOENT', 'EOPNOTSUPP', 'ENODEV'].includes(e.errnoName)) return undefined;
    throw e;
  } finally {
    s.close();
  }
}
