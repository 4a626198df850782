// Questions about one network device, by ifindex: an ioctl on a throwaway
// socket (the fast path's and the next-hop lookup's few needs; nothing here
// changes a device).
#ifndef VISP_NETDEV_H
#define VISP_NETDEV_H

#include <stdint.h>

int netdev_mac(int ifindex, uint8_t mac[6]);   // 0, or -1 (gone, or not Ethernet)
int netdev_mtu(int ifindex);                   // the MTU, or -1
int netdev_ethtool(int ifindex, void *cmd);    // SIOCETHTOOL with a struct ethtool_*: 0 or -1

#endif
