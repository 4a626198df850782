// The MTU under each of the node's underlay addresses: that of the device the
// address is on, read from the kernel at Register. The controller sizes each
// link from the smallest of its members' (docs/dataplane.md, "Path MTU"), so
// a node on a 1400-byte underlay gets links that fit it.
import { addrList } from '../netlink/addr.js';
import { ipToBytes } from '../netlink/codec.js';
import { linkList } from '../netlink/link.js';
import { NetlinkSocket } from '../netlink/socket.js';

/** address → its device's MTU, for each of `addresses` found on a device with an MTU. */
export async function underlayMtus(addresses: readonly string[], netns?: string, signal?: AbortSignal): Promise<Record<string, number>> {
  const s = new NetlinkSocket(netns ? { netns } : {});
  try {
    const mtu = new Map((await linkList(s, signal ? { signal } : {})).map((l) => [l.index, l.mtu]));
    const addrs = await addrList(s, signal);
    const out: Record<string, number> = {};
    for (const a of addresses) {
      const on = addrs.find((x) => ipToBytes(x.address).equals(ipToBytes(a)));
      const m = on ? mtu.get(on.index) : undefined;
      if (m) out[a] = m;
    }
    return out;
  } finally {
    s.close();
  }
}
