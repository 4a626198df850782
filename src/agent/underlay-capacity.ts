// How much a node's underlay carries, for admission of guaranteed links
// (docs/links.md, "Dedicated capacity"): the speed of the devices its
// underlay addresses are on (the slowest, when they differ), as ethtool
// reports it in the agent's namespace; or what the operator configured
// (underlay_capacity, docs/config.md); or none: the node guarantees nothing.
import { addrList } from '../netlink/addr.js';
import { ipToBytes } from '../netlink/codec.js';
import { linkSpeed } from '../netlink/ethtool.js';
import { linkList } from '../netlink/link.js';
import { NetlinkSocket } from '../netlink/socket.js';

/** 'auto' (the default): the devices' speed; 'none': no guarantees; a number: bit/s as configured. */
export type UnderlayCapacity = number | 'auto' | 'none';

/** bit/s, or undefined: this node offers no guaranteed capacity. */
export async function underlayCapacity(addresses: readonly string[], given: UnderlayCapacity = 'auto', netns?: string, signal?: AbortSignal): Promise<number | undefined> {
  if (given === 'none') return undefined;
  if (typeof given === 'number') return given;
  const s = new NetlinkSocket(netns ? { netns } : {});
  let devices: string[];
  try {
    const names = new Map((await linkList(s, signal ? { signal } : {})).map((l) => [l.index, l.name]));
    const addrs = await addrList(s, signal);
    devices = [...new Set(addresses.map((a) => addrs.find((x) => ipToBytes(x.address).equals(ipToBytes(a)))?.index).map((i) => (i === undefined ? undefined : names.get(i))))]
      .filter((n): n is string => !!n);
  } finally {
    s.close();
  }
  const speeds = await Promise.all(devices.map((d) => linkSpeed(d, netns, signal).catch(() => undefined)));
  // A device that cannot say its speed makes the whole unknown: a guarantee needs every path's figure.
  if (!speeds.length || speeds.some((x) => x === undefined)) return undefined;
  return Math.min(...(speeds as number[]));
}
