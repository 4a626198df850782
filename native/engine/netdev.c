#define _GNU_SOURCE
#include "netdev.h"

#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

// r: zeroed, with whatever the request reads (ifr_data); the name is filled in here.
static int dev_ioctl(int ifindex, unsigned long req, struct ifreq *r) {
  if (!if_indextoname((unsigned)ifindex, r->ifr_name)) return -1;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  int rc = ioctl(s, req, r);
  close(s);
  return rc;
}

int netdev_mac(int ifindex, uint8_t mac[6]) {
  struct ifreq r = {0};
  if (dev_ioctl(ifindex, SIOCGIFHWADDR, &r) || r.ifr_hwaddr.sa_family != ARPHRD_ETHER) return -1;
  memcpy(mac, r.ifr_hwaddr.sa_data, 6);
  return 0;
}

int netdev_mtu(int ifindex) {
  struct ifreq r = {0};
  return dev_ioctl(ifindex, SIOCGIFMTU, &r) ? -1 : r.ifr_mtu;
}

int netdev_ethtool(int ifindex, void *cmd) {
  struct ifreq r = {0};
  r.ifr_data = cmd;
  return dev_ioctl(ifindex, SIOCETHTOOL, &r);
}
