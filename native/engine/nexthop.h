// Where the kernel would send a tunnel's packets: the route's device and the
// next hop's MAC, asked of the kernel over rtnetlink (RTM_GETROUTE,
// RTM_GETNEIGH). The fast path builds Ethernet frames itself, so it must
// follow the kernel's routing and neighbour tables, never guess them.
#ifndef VISP_NEXTHOP_H
#define VISP_NEXTHOP_H

#include <stdint.h>

struct nexthop {
  int ifindex;            // the device the route leaves by
  int mtu;                // that device's MTU
  int resolved;           // dst_mac is the next hop's (a usable neighbour entry)
  uint8_t dst_mac[6], src_mac[6];
};

// 0: a unicast route out of an Ethernet device (resolved says whether the
// neighbour is known yet); -1: no route, or one the fast path cannot use
// (local, blackhole, a non-Ethernet device, a gateway of another family).
int nexthop_lookup(int family, const void *dst, const void *src, struct nexthop *out);

#endif
