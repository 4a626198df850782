// Route and neighbour lookups over rtnetlink, one request and one reply each.
#define _GNU_SOURCE
#include "nexthop.h"
#include "netdev.h"

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int nl_fd = -1;
static uint32_t nl_seq;

static int nl_open(void) {
  if (nl_fd >= 0) return 0;
  nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl_fd < 0) return -1;
  // A reply is immediate; never let a lost one stall the forwarding loop.
  struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
  setsockopt(nl_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  if (bind(nl_fd, (struct sockaddr *)&sa, sizeof sa)) { close(nl_fd); nl_fd = -1; return -1; }
  return 0;
}

static void add_attr(struct nlmsghdr *n, unsigned short type, const void *data, unsigned short len) {
  struct rtattr *a = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
  a->rta_type = type; a->rta_len = (unsigned short)RTA_LENGTH(len);
  memcpy(RTA_DATA(a), data, len);
  n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

// Send a request, read its one reply into buf. Returns the reply, or NULL
// (errno set: the kernel's error, or a timeout).
static struct nlmsghdr *request(struct nlmsghdr *req, char *buf, size_t len) {
  if (nl_open()) return NULL;
  req->nlmsg_seq = ++nl_seq;
  if (send(nl_fd, req, req->nlmsg_len, 0) < 0) return NULL;
  for (;;) {
    ssize_t r = recv(nl_fd, buf, len, 0);
    if (r < 0) return NULL;
    for (struct nlmsghdr *n = (struct nlmsghdr *)buf; NLMSG_OK(n, (unsigned)r); n = NLMSG_NEXT(n, r)) {
      if (n->nlmsg_seq != nl_seq) continue;   // a late reply to an earlier, timed-out request
      if (n->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(n);
        errno = e->error ? -e->error : ENOENT;
        return NULL;
      }
      return n;
    }
  }
}

int nexthop_lookup(int family, const void *dst, const void *src, struct nexthop *out) {
  memset(out, 0, sizeof *out);
  unsigned short alen = family == AF_INET ? 4 : 16;
  char buf[8192];
  struct { struct nlmsghdr n; struct rtmsg r; char attrs[64]; } rq;
  memset(&rq, 0, sizeof rq);
  rq.n.nlmsg_len = NLMSG_LENGTH(sizeof rq.r);
  rq.n.nlmsg_type = RTM_GETROUTE; rq.n.nlmsg_flags = NLM_F_REQUEST;
  rq.r.rtm_family = (unsigned char)family;
  rq.r.rtm_dst_len = (unsigned char)(alen * 8); rq.r.rtm_src_len = (unsigned char)(alen * 8);
  add_attr(&rq.n, RTA_DST, dst, alen);
  add_attr(&rq.n, RTA_SRC, src, alen);   // source routing rules see what the raw socket's packets would
  struct nlmsghdr *n = request(&rq.n, buf, sizeof buf);
  if (!n || n->nlmsg_type != RTM_NEWROUTE) return -1;
  struct rtmsg *rt = NLMSG_DATA(n);
  if (rt->rtm_type != RTN_UNICAST) return -1;
  uint8_t gw[16];
  int have_gw = 0, oif = 0;
  int rl = (int)RTM_PAYLOAD(n);
  for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, rl); a = RTA_NEXT(a, rl)) {
    if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == 4) memcpy(&oif, RTA_DATA(a), 4);
    else if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) == alen) { memcpy(gw, RTA_DATA(a), alen); have_gw = 1; }
    else if (a->rta_type == RTA_VIA) return -1;   // a next hop of the other family: leave it to the kernel
  }
  if (!oif || netdev_mac(oif, out->src_mac) || (out->mtu = netdev_mtu(oif)) < 0) return -1;   // Ethernet only
  out->ifindex = oif;

  struct { struct nlmsghdr n; struct ndmsg m; char attrs[64]; } nq;
  memset(&nq, 0, sizeof nq);
  nq.n.nlmsg_len = NLMSG_LENGTH(sizeof nq.m);
  nq.n.nlmsg_type = RTM_GETNEIGH; nq.n.nlmsg_flags = NLM_F_REQUEST;
  nq.m.ndm_family = (unsigned char)family; nq.m.ndm_ifindex = oif;
  add_attr(&nq.n, NDA_DST, have_gw ? gw : dst, alen);
  n = request(&nq.n, buf, sizeof buf);
  if (!n || n->nlmsg_type != RTM_NEWNEIGH) return 0;   // not known yet: the raw socket's packets make the kernel ask
  struct ndmsg *nd = NLMSG_DATA(n);
  // INCOMPLETE and FAILED have no usable address; STALE still does (and the
  // engine's periodic raw packet makes the kernel confirm it).
  if (!(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT))) return 0;
  int nl = (int)(n->nlmsg_len - NLMSG_LENGTH(sizeof *nd));
  for (struct rtattr *a = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof *nd)); RTA_OK(a, nl); a = RTA_NEXT(a, nl)) {
    if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) { memcpy(out->dst_mac, RTA_DATA(a), 6); out->resolved = 1; }
  }
  return 0;
}
