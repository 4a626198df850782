// visp-engine: a userspace tunnel data plane for kernels that have no driver
// for the encapsulation (EtherIP never has one in Linux; GRE and gretap are
// missing where ip_gre cannot load).
//
// One process per node, inside the node's network namespace. Each tunnel is a
// TAP device (layer 2: etherip, gretap) or a TUN device (layer 3: gre) the
// engine creates; what is read from it is encapsulated and sent to the
// underlay, and packets received from the underlay are demultiplexed back to
// a tunnel and written to its device. The underlay is an AF_XDP port on the
// route's device where XDP attaches (xdp.c: the fast path, which skips the
// kernel's IP layer both ways), and raw IP sockets for everything else.
//
//   EtherIP  (RFC 3378)      IP proto 97, header 0x3000 (version 3, 12 reserved bits)
//   gretap   (RFC 2784/2890) IP proto 47, flags+version, protocol 0x6558, optional key
//   gre      (RFC 2784/2890) IP proto 47, protocol 0x0800 (IPv4 inside) or 0x86DD (IPv6), optional key
//
// Demultiplexing: GRE by (protocol type → gretap or gre, remote, key present,
// key), EtherIP by remote. Anything else (unknown peer or key, truncated,
// wrong version, GRE routing, another protocol type) is dropped and counted,
// never fatal.
//
// Control: a unix stream socket, one command per line, one JSON object per
// reply line:
//   add name=N kind=etherip|gretap|gre local=A remote=B [key=K] [mtu=UNDERLAY_MTU] [mac=M (not gre)]
//   del name=N
//   list
//   ping
// The engine persists nothing: when it restarts, the agent re-sends the
// tunnels (and re-attaches the TAPs, which die with the process).
//
// The devices carry a virtio_net_hdr (IFF_VNET_HDR): TCP comes out of the
// inner stack in TSO frames of up to 64 KiB, which the engine cuts into
// segments, and received segments of one flow go back in merged (offload.c).
//
// One thread, one epoll loop: a thread per direction was measured and did
// not help on a 2-core node (the sending engine's thread is the bottleneck,
// and most of its time is the kernel's per-packet work inside sendmmsg);
// batching (recvmmsg/sendmmsg, TSO/GRO) is where the cost goes down.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "nexthop.h"
#include "offload.h"
#include "pmtu.h"
#include "xdp.h"

#define MAX_TUNNELS 1024
#define MAX_CLIENTS 16
#define PROTO_GRE 47
#define PROTO_ETHERIP 97
#define ETH_HLEN 14

enum kind { K_ETHERIP, K_GRETAP, K_GRE };
static const char *kind_name[] = { "etherip", "gretap", "gre" };

struct tunnel {
  int used;
  char name[IFNAMSIZ];
  enum kind kind;
  int family;                           // AF_INET or AF_INET6
  struct in6_addr local, remote;        // IPv4 kept in the first 4 bytes
  int has_key;
  uint32_t key;
  int underlay_mtu, mtu;                // mtu: the TAP's/TUN's (underlay − overhead)
  int has_mac;                          // a MAC from the agent survives engine restarts:
  uint8_t mac[6];                       // peers' neighbour entries stay right
  int fd;                               // TAP, or TUN for gre
  uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes, tx_drop_oversize, tx_drop_error, rx_drop_error;
  uint64_t tx_gso, rx_gro;              // TSO frames cut up; merged frames written (each counts once)
  int detached;                         // its device was deleted under us: no longer polled (see tap_readable)
  // Fast path (xdp.h): the port its route leaves by (an index in ports[],
  // -1: none), and the Ethernet header toward the next hop once the kernel
  // knows its MAC (fast). probe: send the next packet by the raw socket, so
  // the kernel keeps confirming that neighbour entry.
  int port, fast, probe, dev_mtu;
  uint8_t eth[14];
  uint16_t ip_id;
  uint64_t tx_xdp, rx_xdp;
  uint64_t tx_seen;                     // tx_packets when its next hop was last looked up
  // Path MTU (pmtu.h): what the underlay carries toward remote now, the
  // smaller of underlay_mtu and the kernel's route MTU (a device MTU below
  // what the agent said, a PMTU learnt from ICMP). An inner packet that does
  // not fit after encapsulation is answered (too_big) instead of sent.
  int path;
  int64_t path_at;                      // when path was last looked up
  uint64_t path_seen;                   // tx_packets + too_big then
  uint64_t too_big;                     // "fragmentation needed" / "packet too big" written back into the device
};

// discarding: the rest of a too-long line, answered already, is skipped up to its newline.
struct client { int fd; int discarding; size_t len; char buf[4096]; };

// Drops that belong to no tunnel: the wire was wrong, not a tunnel.
static struct {
  uint64_t truncated, bad_version, bad_flags, bad_protocol, unknown_peer, unknown_key;
  uint64_t bad_ip_header;               // fast path only: the kernel's IP layer would have dropped it
} drops;

static struct tunnel tunnels[MAX_TUNNELS];
static struct client clients[MAX_CLIENTS];
static int epfd, ctl_fd;
static int raw_fd[2][2];                // [v4|v6][gre|etherip]
static volatile sig_atomic_t stopping;
static const char *ctl_path;

// epoll tags: high byte says what the fd is, the rest indexes its table.
enum tag { T_RAW = 1, T_TAP, T_CTL, T_CLIENT, T_XSK };
static uint64_t tag(enum tag t, uint32_t i) { return ((uint64_t)t << 32) | i; }

static void logf_(const char *fmt, ...) {
  va_list ap; va_start(ap, fmt);
  fprintf(stderr, "visp-engine: "); vfprintf(stderr, fmt, ap); fputc('\n', stderr);
  va_end(ap);
}

// The EtherIP or GRE header in front of every packet (GRE: 4, + 4 with a key).
static int encap_len(const struct tunnel *t) {
  return t->kind == K_ETHERIP ? 2 : 4 + (t->has_key ? 4 : 0);
}

static int overhead(const struct tunnel *t) {
  int ip = t->family == AF_INET ? 20 : 40;
  return ip + encap_len(t) + (t->kind == K_GRE ? 0 : ETH_HLEN);
}

// The largest inner IP packet the path carries once encapsulated.
static int inner_max(const struct tunnel *t) {
  return t->path - overhead(t);   // (overhead counts the inner Ethernet header of a TAP's frames)
}

static int64_t now_ms(void);

// Ask the kernel for the route's MTU toward the remote again.
static void path_update(struct tunnel *t) {
  int m = path_mtu(t->family, &t->remote, &t->local);
  int path = m > 0 && m < t->underlay_mtu ? m : t->underlay_mtu;
  if (path != t->path && t->path) logf_("tunnel %s: path MTU %d -> %d (route %d, underlay %d); inner packets above %d are answered too big",
                                        t->name, t->path, path, m, t->underlay_mtu, path - overhead(t));
  t->path = path;
  t->path_at = now_ms();
  t->path_seen = t->tx_packets + t->too_big;
}

// After a send refused for size: look again, at most every 100 ms.
static void path_suspect(struct tunnel *t) {
  if (now_ms() - t->path_at >= 100) path_update(t);
}

static int addr_eq(const struct tunnel *t, int family, const void *a) {
  return t->family == family && memcmp(&t->remote, a, family == AF_INET ? 4 : 16) == 0;
}

// ---- sockets ---------------------------------------------------------------

static int open_raw(int family, int proto) {
  int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) return -1;
  int big = 4 << 20;
  // Bigger buffers absorb bursts between loop turns.
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  // The underlay must not fragment us silently; oversize is the TAP MTU's job.
  int pmtu = family == AF_INET ? IP_PMTUDISC_DO : IPV6_PMTUDISC_DO;
  if (family == AF_INET) setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
  else setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
  return fd;
}

static int tap_open(const char *name, int tun, int mtu, const uint8_t *mac, char *err, size_t errlen) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) { snprintf(err, errlen, "open /dev/net/tun: %s", strerror(errno)); return -1; }
  struct ifreq ifr = {0};
  // A virtio_net_hdr on every frame: how TSO frames and partial checksums
  // come out, and merged (GSO) frames go in.
  ifr.ifr_flags = (tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI | IFF_VNET_HDR;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  // Non-persistent: the TAP goes away with the fd, so a dead engine leaves nothing.
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    snprintf(err, errlen, "TUNSETIFF %s: %s", name, strerror(errno)); close(fd); return -1;
  }
  int hsz = VNET_HLEN;
  // The stack may hand us TCP up to 64 KiB (we segment it) with the checksum left to us.
  unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
  if (ioctl(fd, TUNSETVNETHDRSZ, &hsz) < 0 || ioctl(fd, TUNSETOFFLOAD, off) < 0) {
    snprintf(err, errlen, "TUNSETOFFLOAD %s: %s", name, strerror(errno)); close(fd); return -1;
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq m = {0};
  snprintf(m.ifr_name, IFNAMSIZ, "%s", name);
  m.ifr_mtu = mtu;
  int rc = ioctl(s, SIOCSIFMTU, &m);
  if (rc < 0) snprintf(err, errlen, "SIOCSIFMTU %s %d: %s", name, mtu, strerror(errno));
  if (rc == 0 && mac) {
    m.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(m.ifr_hwaddr.sa_data, mac, 6);
    rc = ioctl(s, SIOCSIFHWADDR, &m);
    if (rc < 0) snprintf(err, errlen, "SIOCSIFHWADDR %s: %s", name, strerror(errno));
  }
  close(s);
  if (rc < 0) { close(fd); return -1; }
  return fd;
}


// ---- fast path: AF_XDP ports on underlay devices (xdp.h) ----------------------
//
// A slot per underlay device that tunnels route by, taken when the first such
// tunnel is added and freed (the XDP program detached) with the last one.
// x is the open port, or NULL while it could not open (err says why: another
// program holds the device, no BPF, a queue not yet released): the tunnels
// then use raw sockets, and resolve() opens it again after retry_at, as it
// does when the device's MAC changes.

#define MAX_PORTS 16
#define PORT_RETRY_MS 10000
static struct port { struct xport *x; int ifindex, refs; int64_t retry_at; char err[160]; } ports[MAX_PORTS];
static int ports_full;                  // a device refused for want of a slot (listed as failed)
static int xdp_on;                      // xdp_init succeeded
static char xdp_status[200] = "off";

static int64_t now_ms(void) {
  struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void port_close(struct port *p) {
  if (!p->x) return;
  for (int q = 0; q < xport_queues(p->x); q++) epoll_ctl(epfd, EPOLL_CTL_DEL, xport_fd(p->x, q), NULL);
  xport_close(p->x);
  p->x = NULL;
}

// Open (again, when why says why) the slot's port.
static void port_open(int slot, const char *why) {
  struct port *p = &ports[slot];
  port_close(p);
  p->x = xport_open(p->ifindex, p->err, sizeof p->err);
  p->retry_at = now_ms() + PORT_RETRY_MS;
  char name[IF_NAMESIZE] = "?"; if_indextoname((unsigned)p->ifindex, name);
  if (!p->x) { logf_("fast path on %s%s%s: %s; raw sockets carry its tunnels", name, why ? ", " : "", why ? why : "", p->err); return; }
  for (int q = 0; q < xport_queues(p->x); q++) {
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag(T_XSK, (uint32_t)(slot * XPORT_MAX_QUEUES + q)) };
    epoll_ctl(epfd, EPOLL_CTL_ADD, xport_fd(p->x, q), &ev);
  }
  if (why) logf_("fast path on %s: %s; program reloaded", name, why);
  else logf_("fast path on %s: XDP %s, %d queue(s)", name, xport_mode(p->x), xport_queues(p->x));
}

static int port_get(int ifindex) {
  int free_slot = -1;
  for (int i = 0; i < MAX_PORTS; i++) {
    if (ports[i].refs && ports[i].ifindex == ifindex) { ports[i].refs++; return i; }
    if (!ports[i].refs && free_slot < 0) free_slot = i;
  }
  if (free_slot < 0) {
    ports_full = ifindex;
    logf_("fast path: more than %d underlay devices; raw sockets carry the rest", MAX_PORTS);
    return -1;
  }
  if (ports_full == ifindex) ports_full = 0;
  ports[free_slot] = (struct port){ .ifindex = ifindex, .refs = 1 };
  port_open(free_slot, NULL);
  return free_slot;
}

static void port_put(int slot) {
  if (slot < 0 || --ports[slot].refs > 0) return;
  port_close(&ports[slot]);
  memset(&ports[slot], 0, sizeof ports[slot]);
}

// Follow the kernel: which device the remote is routed by, and whether the
// next hop's MAC is known. Until it is, the raw socket sends (and its
// packets make the kernel resolve it).
// found, nh: what nexthop_lookup answered for the tunnel's (remote, local).
static void resolve_with(struct tunnel *t, int found, const struct nexthop *nh) {
  t->tx_seen = t->tx_packets;
  int ifindex = found ? nh->ifindex : 0;
  if (ifindex != (t->port >= 0 ? ports[t->port].ifindex : 0)) {
    if (t->port >= 0) port_put(t->port);
    t->port = ifindex ? port_get(ifindex) : -1;
  }
  t->fast = 0;
  struct port *p = t->port >= 0 ? &ports[t->port] : NULL;
  if (p && p->x && memcmp(nh->src_mac, xport_mac(p->x), 6)) port_open(t->port, "device MAC changed");
  else if (p && !p->x && now_ms() >= p->retry_at) port_open(t->port, "tried again");
  // A jumbo underlay whose frames do not fit a UMEM frame stays on raw sockets.
  if (!p || !p->x || !nh->resolved || (size_t)nh->mtu + ETH_HLEN > xport_frame_room()) return;
  memcpy(t->eth, nh->dst_mac, 6); memcpy(t->eth + 6, nh->src_mac, 6);
  t->eth[12] = t->family == AF_INET ? 0x08 : 0x86; t->eth[13] = t->family == AF_INET ? 0x00 : 0xdd;
  t->dev_mtu = nh->mtu;
  t->fast = 1;
}

static void resolve(struct tunnel *t) {
  if (!xdp_on) { t->tx_seen = t->tx_packets; return; }
  struct nexthop nh;
  int found = nexthop_lookup(t->family, &t->remote, &t->local, &nh) == 0;
  resolve_with(t, found, &nh);
}

// Tunnels that sent since their last lookup are looked up again: every
// 250 ms while the next hop is unknown, every second once it is (and then
// one packet goes by the raw socket, so the kernel's neighbour entry stays
// confirmed and a changed MAC is learnt).
// Tunnels between the same two addresses (every link between two nodes)
// share one answer per pass: the look-ups run in the forwarding loop.
static void refresh(int full) {
  static struct { int family, found; struct in6_addr remote, local; struct nexthop nh; } seen[MAX_TUNNELS];
  int nseen = 0;
  for (int i = 0; i < MAX_TUNNELS; i++) {
    struct tunnel *t = &tunnels[i];
    if (!t->used || t->tx_packets == t->tx_seen || (t->fast && !full)) continue;
    if (!xdp_on) { t->tx_seen = t->tx_packets; continue; }
    int k = 0;
    while (k < nseen && !(seen[k].family == t->family && !memcmp(&seen[k].remote, &t->remote, 16) && !memcmp(&seen[k].local, &t->local, 16))) k++;
    if (k == nseen) {
      seen[k].family = t->family; seen[k].remote = t->remote; seen[k].local = t->local;
      seen[k].found = nexthop_lookup(t->family, &t->remote, &t->local, &seen[k].nh) == 0;
      nseen++;
    }
    resolve_with(t, seen[k].found, &seen[k].nh);
    if (t->fast) t->probe = 1;
  }
}

// The allow map entry for a (remote, local) pair goes when its last tunnel does.
static void allow_update(const struct tunnel *t, int on) {
  if (!xdp_on) return;
  if (!on) for (int i = 0; i < MAX_TUNNELS; i++) {
    const struct tunnel *o = &tunnels[i];
    if (o != t && o->used && o->family == t->family && !memcmp(&o->remote, &t->remote, 16) && !memcmp(&o->local, &t->local, 16)) return;
  }
  if (xdp_allow(t->family, &t->remote, &t->local, on) && on) logf_("xdp allow map: %s", strerror(errno));
}

// ---- transmit: TAP → underlay -----------------------------------------------
//
// The device hands over one frame per read, with a virtio_net_hdr in front:
// a TSO frame (up to 64 KiB of TCP) is cut into MTU-sized segments here, a
// frame with a partial checksum gets it completed. Every message is
// [encapsulation header][frame or segment headers][payload], so the payload
// is never copied in userspace; up to TX_FRAMES reads go out in one sendmmsg.

#define TX_FRAMES 8
#define TX_FRAME_MAX (65536 + 1024)   // the device's largest GSO frame, with link headers
#define TX_MSGS 1024                  // sendmmsg's own limit (UIO_MAXIOV)
#define SEG_STRIDE 256

static uint8_t txbuf[TX_FRAMES][VNET_HLEN + TX_FRAME_MAX];
static uint8_t seghdr[TX_MSGS][SEG_STRIDE];
static struct mmsghdr txmsg[TX_MSGS];
static struct iovec txiov[TX_MSGS][3];
static struct seg segs[TX_MSGS];

// What goes in front of every packet of a tunnel (two for gre: IPv4 / IPv6
// inside), its destination and its source (IP_PKTINFO / IPV6_PKTINFO). One
// copy serves every message of a batch.
struct encap { uint8_t hdr[2][8]; int hlen; union { struct sockaddr_in v4; struct sockaddr_in6 v6; } dst; socklen_t dlen;
               union { char c[CMSG_SPACE(sizeof(struct in6_pktinfo))]; struct cmsghdr align; } cbuf; size_t clen; };

static void encap_init(const struct tunnel *t, struct encap *e) {
  memset(e, 0, sizeof *e);
  e->hlen = encap_len(t);
  for (int i = 0; i < 2; i++) {
    uint8_t *h = e->hdr[i];
    if (t->kind == K_ETHERIP) { h[0] = 0x30; h[1] = 0x00; continue; }
    uint16_t ptype = t->kind == K_GRETAP ? 0x6558 : i == 0 ? 0x0800 : 0x86dd;
    h[0] = t->has_key ? 0x20 : 0x00; h[1] = 0x00; h[2] = (uint8_t)(ptype >> 8); h[3] = (uint8_t)ptype;
    if (t->has_key) { uint32_t k = htonl(t->key); memcpy(h + 4, &k, 4); }
  }
  // Source address = the tunnel's local, so the far end's demux matches.
  struct msghdr m = { .msg_control = e->cbuf.c };
  struct cmsghdr *c;
  if (t->family == AF_INET) {
    e->dst.v4.sin_family = AF_INET; memcpy(&e->dst.v4.sin_addr, &t->remote, 4); e->dlen = sizeof e->dst.v4;
    m.msg_controllen = e->clen = CMSG_SPACE(sizeof(struct in_pktinfo));
    c = CMSG_FIRSTHDR(&m); c->cmsg_level = IPPROTO_IP; c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo pi = {0}; memcpy(&pi.ipi_spec_dst, &t->local, 4);
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
  } else {
    e->dst.v6.sin6_family = AF_INET6; e->dst.v6.sin6_addr = t->remote; e->dlen = sizeof e->dst.v6;
    m.msg_controllen = e->clen = CMSG_SPACE(sizeof(struct in6_pktinfo));
    c = CMSG_FIRSTHDR(&m); c->cmsg_level = IPPROTO_IPV6; c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
    struct in6_pktinfo pi = {0}; pi.ipi6_addr = t->local;
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
  }
}

static void add_msg(struct encap *e, int n, int inner_v6, const void *a, size_t alen, const void *b, size_t blen) {
  struct iovec *iov = txiov[n];
  iov[0].iov_base = e->hdr[inner_v6]; iov[0].iov_len = (size_t)e->hlen;
  iov[1].iov_base = (void *)a; iov[1].iov_len = alen;
  iov[2].iov_base = (void *)b; iov[2].iov_len = blen;
  struct msghdr *m = &txmsg[n].msg_hdr;
  m->msg_name = &e->dst; m->msg_namelen = e->dlen;
  m->msg_iov = iov; m->msg_iovlen = blen ? 3 : 2;
  m->msg_control = e->cbuf.c; m->msg_controllen = e->clen;
  m->msg_flags = 0;
}

static size_t msg_payload(int i) {
  size_t n = 0;
  for (size_t k = 0; k < txmsg[i].msg_hdr.msg_iovlen; k++) n += txiov[i][k].iov_len;
  return n;
}

static void raw_send(struct tunnel *t, int from, int n) {
  int fd = raw_fd[t->family == AF_INET ? 0 : 1][t->kind == K_ETHERIP ? 1 : 0];
  int sent = from;
  while (sent < n) {
    int r = sendmmsg(fd, txmsg + sent, (unsigned)(n - sent), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      // EAGAIN/EMSGSIZE/unreachable: drop this one and go on with the rest.
      // EMSGSIZE: the path shrank under us (the device's MTU, a learnt PMTU); the next packets are measured against it.
      if (errno == EMSGSIZE) path_suspect(t);
      t->tx_drop_error++; sent++; continue;
    }
    for (int i = sent; i < sent + r; i++) { t->tx_packets++; t->tx_bytes += msg_payload(i) - txiov[i][0].iov_len; }
    sent += r;
  }
}

// Build each message as a whole frame in the port's UMEM: Ethernet and IP
// headers (what the kernel's IP layer would have written), then the
// encapsulation header, segment headers and payload. Returns how many went;
// the caller sends the rest by the raw socket (no free frame left).
static int fast_send(struct tunnel *t, int n) {
  struct xport *x = ports[t->port].x;
  int v4 = t->family == AF_INET, iph = v4 ? 20 : 40, i = 0;
  uint8_t proto = t->kind == K_ETHERIP ? PROTO_ETHERIP : PROTO_GRE;
  if (t->probe) { t->probe = 0; raw_send(t, 0, 1); i = 1; }
  for (; i < n; i++) {
    size_t pay = msg_payload(i);
    if (pay + (size_t)iph > (size_t)t->dev_mtu) { t->tx_drop_error++; path_suspect(t); continue; }   // what the raw socket's EMSGSIZE would be
    uint8_t *f = xport_tx_frame(x);
    if (!f) break;
    memcpy(f, t->eth, ETH_HLEN);
    uint8_t *ip = f + ETH_HLEN;
    if (v4) {
      uint16_t tot = htons((uint16_t)(20 + pay)), id = htons(t->ip_id++);
      ip[0] = 0x45; ip[1] = 0; memcpy(ip + 2, &tot, 2); memcpy(ip + 4, &id, 2);
      ip[6] = 0x40; ip[7] = 0; ip[8] = 64; ip[9] = proto; ip[10] = ip[11] = 0;   // DF, as IP_PMTUDISC_DO sends
      memcpy(ip + 12, &t->local, 4); memcpy(ip + 16, &t->remote, 4);
      uint16_t c = (uint16_t)~csum_fold(csum_add(0, ip, 20));
      memcpy(ip + 10, &c, 2);
    } else {
      uint16_t plen = htons((uint16_t)pay);
      ip[0] = 0x60; ip[1] = ip[2] = ip[3] = 0; memcpy(ip + 4, &plen, 2); ip[6] = proto; ip[7] = 64;
      memcpy(ip + 8, &t->local, 16); memcpy(ip + 24, &t->remote, 16);
    }
    uint8_t *o = ip + iph;
    for (size_t k = 0; k < txmsg[i].msg_hdr.msg_iovlen; k++) { memcpy(o, txiov[i][k].iov_base, txiov[i][k].iov_len); o += txiov[i][k].iov_len; }
    xport_tx_commit(x, f, (uint32_t)(o - f));
    t->tx_packets++; t->tx_xdp++; t->tx_bytes += pay - txiov[i][0].iov_len;
  }
  xport_tx_kick(x);
  return i;
}

static void tx_flush(struct tunnel *t, int n) {
  int from = t->fast && t->port >= 0 && ports[t->port].x ? fast_send(t, n) : 0;
  if (from < n) raw_send(t, from, n);
}

// An inner packet the path cannot carry: dropped (txDropOversize) and, where
// a kernel tunnel would answer, answered (pmtu.h; tooBig counts the answers).
static void too_big(struct tunnel *t, const uint8_t *f, size_t len, int l2) {
  static uint8_t out[1280 + ETH_HLEN];
  static const struct virtio_net_hdr none;
  // Linux answers bridged frames (L2) only for an MTU of at least 576 (iptunnel_pmtud_check_icmp); its ip_gre, any.
  size_t n = too_big_reply(out, sizeof out, f, len, l2, inner_max(t), l2 ? 576 : 68);
  t->tx_drop_oversize++;   // not sent, whether answered or not
  if (!n) return;
  struct iovec iov[2] = { { (void *)&none, VNET_HLEN }, { out, n } };
  if (writev(t->fd, iov, 2) == (ssize_t)(n + VNET_HLEN)) t->too_big++;
}

static void tap_readable(struct tunnel *t) {
  struct encap e;
  encap_init(t, &e);
  int l2 = t->kind == K_GRE ? 0 : ETH_HLEN;
  int n = 0;
  for (int fi = 0; fi < TX_FRAMES; fi++) {
    uint8_t *buf = txbuf[fi];
    ssize_t r = read(t->fd, buf, sizeof txbuf[fi]);
    if (r < 0 && (errno == EBADFD || errno == EIO)) {
      // The device was deleted (ip link del): the fd stays readable-with-error
      // forever, and polling it would spin. Stop polling; the tunnel stays
      // listed as detached until the agent deletes and re-adds it.
      epoll_ctl(epfd, EPOLL_CTL_DEL, t->fd, NULL);
      t->detached = 1;
      logf_("tunnel %s: its device is gone (%s); no longer polled", t->name, strerror(errno));
      break;
    }
    if (r < 0) { if (errno != EAGAIN && errno != EINTR) t->tx_drop_error++; break; }
    struct virtio_net_hdr vh;
    if (r < VNET_HLEN) { t->tx_drop_error++; continue; }
    memcpy(&vh, buf, sizeof vh);
    uint8_t *f = buf + VNET_HLEN;
    size_t len = (size_t)r - VNET_HLEN;
    if (len < (size_t)(l2 ? ETH_HLEN : 1)) { t->tx_drop_error++; continue; }
    // gre: the GRE protocol type says what is inside, by the IP version nibble.
    int inner_v6 = 0;
    if (t->kind == K_GRE) {
      int v = f[0] >> 4;
      if (v != 4 && v != 6) { t->tx_drop_error++; continue; }
      inner_v6 = v == 6;
    }
    if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
      if (len > (size_t)(inner_max(t) + l2)) { too_big(t, f, len, l2); continue; }   // never fragment silently, never drop silently
      if ((vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && csum_complete(f, len, &vh)) { t->tx_drop_error++; continue; }
      add_msg(&e, n++, inner_v6, f, len, NULL, 0);
    } else {
      size_t l3max = 0;
      int k = gso_split(f, len, &vh, l2, seghdr[n], SEG_STRIDE, segs, TX_MSGS - n, &l3max);
      if (k == -2 && n > 0) {   // no room left in this batch: send it, then split into an empty one
        tx_flush(t, n); n = 0;
        k = gso_split(f, len, &vh, l2, seghdr[0], SEG_STRIDE, segs, TX_MSGS, &l3max);
      }
      if (k < 0) { t->tx_drop_error++; continue; }
      if (l3max > (size_t)inner_max(t)) { too_big(t, f, len, l2); continue; }
      t->tx_gso++;
      for (int i = 0; i < k; i++) add_msg(&e, n++, inner_v6, segs[i].hdr, segs[i].hlen, segs[i].payload, segs[i].plen);
    }
    if (n > TX_MSGS - 256) break;   // room for one more 64 KiB frame at a small MSS is not guaranteed
  }
  if (n) tx_flush(t, n);
}

// ---- receive: underlay → TAP -------------------------------------------------
//
// recvmmsg up to BATCH datagrams; consecutive TCP segments of one flow to one
// tunnel are merged (GRO_FLOWS flows at a time) and written as one GSO frame
// with writev; everything else is written as it came. Nothing is held past
// the end of a batch, so merging adds no latency.

#define BATCH 64
#define RX_BUF 65536      // a whole reassembled IP datagram fits
#define GRO_FLOWS 8

static uint8_t rxbuf[BATCH][RX_BUF];
static struct gro_flow gro[GRO_FLOWS];
static const struct virtio_net_hdr vh_none;   // "no offload" header for plain frames

// ---- demultiplexing: two hash tables, chained through tunnel slots ----------
//
// by_key: (kind, remote, key) -> the tunnel, the per-packet lookup.
// by_peer: (remote) -> the first tunnel with that remote, and every tunnel
// keeps counts of its remote's tunnels per kind there, so a miss can say why
// (unknown peer, unknown key, wrong kind) without a scan.

#define HSIZE 4096   // buckets: a power of two, well above MAX_TUNNELS
static int by_key[HSIZE], by_key_next[MAX_TUNNELS];
static int by_peer[HSIZE], by_peer_next[MAX_TUNNELS];
static int peer_count[MAX_TUNNELS][3];   // per kind; kept by the slot that stands for its remote in by_peer

static uint32_t fnv(uint32_t h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
  return h;
}
static uint32_t hash_peer(int family, const void *remote) {
  return fnv(2166136261u ^ (uint32_t)family, remote, family == AF_INET ? 4 : 16) & (HSIZE - 1);
}
static uint32_t hash_key(enum kind kind, int family, const void *remote, int has_key, uint32_t key) {
  uint32_t h = fnv(2166136261u ^ (uint32_t)family ^ (uint32_t)kind << 8 ^ (uint32_t)has_key << 16, remote, family == AF_INET ? 4 : 16);
  return fnv(h, &key, 4) & (HSIZE - 1);
}

static struct tunnel *lookup_key(enum kind kind, int family, const void *remote, int has_key, uint32_t key) {
  for (int i = by_key[hash_key(kind, family, remote, has_key, key)]; i >= 0; i = by_key_next[i]) {
    struct tunnel *t = &tunnels[i];
    if (t->kind == kind && t->has_key == has_key && t->key == key && addr_eq(t, family, remote)) return t;
  }
  return NULL;
}
// The slot whose peer_count holds this remote's counts, or -1.
static int lookup_peer(int family, const void *remote) {
  for (int i = by_peer[hash_peer(family, remote)]; i >= 0; i = by_peer_next[i])
    if (addr_eq(&tunnels[i], family, remote)) return i;
  return -1;
}

static void unlink_from(int *head, int *next, int slot) {
  for (int *p = head; *p >= 0; p = &next[*p]) if (*p == slot) { *p = next[slot]; return; }
}

static void demux_add(int slot) {
  struct tunnel *t = &tunnels[slot];
  uint32_t h = hash_key(t->kind, t->family, &t->remote, t->has_key, t->key);
  by_key_next[slot] = by_key[h]; by_key[h] = slot;
  int p = lookup_peer(t->family, &t->remote);
  if (p < 0) {   // the remote's first tunnel carries the counts
    uint32_t hp = hash_peer(t->family, &t->remote);
    by_peer_next[slot] = by_peer[hp]; by_peer[hp] = slot;
    memset(peer_count[slot], 0, sizeof peer_count[slot]);
    p = slot;
  }
  peer_count[p][t->kind]++;
}

static void demux_del(int slot) {
  struct tunnel *t = &tunnels[slot];
  unlink_from(&by_key[hash_key(t->kind, t->family, &t->remote, t->has_key, t->key)], by_key_next, slot);
  int p = lookup_peer(t->family, &t->remote);
  peer_count[p][t->kind]--;
  if (p != slot) return;
  // This slot carried the remote's counts: hand them to another tunnel of the remote, if any.
  uint32_t hp = hash_peer(t->family, &t->remote);
  unlink_from(&by_peer[hp], by_peer_next, slot);
  for (int i = 0; i < MAX_TUNNELS; i++) {
    if (i == slot || !tunnels[i].used || !addr_eq(&tunnels[i], t->family, &t->remote)) continue;
    memcpy(peer_count[i], peer_count[slot], sizeof peer_count[i]);
    by_peer_next[i] = by_peer[hp]; by_peer[hp] = i;
    break;
  }
}

// peer: 0 no GRE tunnel has this remote, 1 one of this kind does (so the key
// is wrong), 2 only tunnels of the other GRE kind do (so the protocol is).
static struct tunnel *find_gre(enum kind kind, int family, const void *src, int has_key, uint32_t key, int *peer) {
  struct tunnel *t = lookup_key(kind, family, src, has_key, key);
  if (t) return t;
  int p = lookup_peer(family, src);
  *peer = p < 0 ? 0 : peer_count[p][kind] ? 1 : peer_count[p][kind == K_GRE ? K_GRETAP : K_GRE] ? 2 : 0;
  return NULL;
}
static struct tunnel *find_etherip(int family, const void *src) {
  return lookup_key(K_ETHERIP, family, src, 0, 0);
}

static int rx_fast;   // the packets being delivered came by the fast path

static void dev_write(struct tunnel *t, struct iovec *iov, int n, uint64_t packets, size_t bytes) {
  if (writev(t->fd, iov, n) < 0) { t->rx_drop_error += packets; return; }   // device down / queue full
  t->rx_packets += packets; t->rx_bytes += bytes;
  if (rx_fast) t->rx_xdp += packets;
}

static void gro_flush(struct gro_flow *g) {
  struct tunnel *t = g->owner;
  int n = gro_finish(g);
  size_t hl = (size_t)(g->l4 + g->thl);
  if (g->nseg > 1) t->rx_gro++;
  dev_write(t, g->iov, n, (uint64_t)g->nseg, (size_t)g->nseg * hl + g->total);
  g->used = 0;
}

static void gro_flush_all(void) {
  for (int i = 0; i < GRO_FLOWS; i++) if (gro[i].used) gro_flush(&gro[i]);
}

static void deliver(struct tunnel *t, uint8_t *f, size_t len) {
  int l2 = t->kind == K_GRE ? 0 : ETH_HLEN;
  if (l2 && len < ETH_HLEN) { drops.truncated++; return; }
  int l3, l4, thl, v6;
  size_t plen;
  int c = gro_candidate(f, len, l2, &l3, &l4, &thl, &v6, &plen);
  if (c != 0) {
    struct gro_flow *g = NULL, *free_slot = NULL;
    for (int i = 0; i < GRO_FLOWS; i++) {
      if (!gro[i].used) { if (!free_slot) free_slot = &gro[i]; continue; }
      if (gro[i].owner == t && gro_same_flow(&gro[i], f, l3, l4, v6)) { g = &gro[i]; break; }
    }
    if (c == 1) {
      if (g && gro_append(g, f, l3, l4, thl, plen)) return;
      if (g) gro_flush(g);                                      // keeps the flow's order
      else if (!free_slot) { gro_flush(&gro[0]); g = &gro[0]; }   // all slots busy: make room
      if (!g) g = free_slot;
      gro_start(g, t, f, l3, l4, thl, v6, plen);
      return;
    }
    if (g) gro_flush(g);   // not mergeable: whatever of its flow is pending goes first
    struct virtio_net_hdr vh;
    if (gro_super(f, l3, l4, thl, v6, plen, t->mtu, &vh)) {
      struct iovec iov[2] = { { &vh, VNET_HLEN }, { f, (size_t)(l4 + thl) + plen } };
      t->rx_gro++;
      dev_write(t, iov, 2, 1, iov[1].iov_len);
      return;
    }
  }
  struct iovec iov[2] = { { (void *)&vh_none, VNET_HLEN }, { f, len } };
  dev_write(t, iov, 2, 1, len);
}

// One received datagram: p/len start at the encapsulation header.
static void demux(int family, int proto, const void *src, uint8_t *p, size_t len) {
  if (proto == PROTO_ETHERIP) {
    if (len < 2) { drops.truncated++; return; }
    if ((p[0] >> 4) != 3 || (p[0] & 0x0f) || p[1]) { drops.bad_version++; return; }
    struct tunnel *t = find_etherip(family, src);
    if (!t) { drops.unknown_peer++; return; }
    deliver(t, p + 2, len - 2);
    return;
  }
  if (len < 4) { drops.truncated++; return; }
  uint16_t flags = (uint16_t)(p[0] << 8 | p[1]);
  if ((flags & 0x7) != 0) { drops.bad_version++; return; }           // GRE version 0 only
  if (flags & 0x4000 || flags & 0x0ff8) { drops.bad_flags++; return; } // routing / reserved bits (RFC 2784: MUST discard)
  // The protocol type picks the kind of tunnel: Ethernet to gretap (TAP), IP to gre (TUN).
  uint16_t ptype = (uint16_t)(p[2] << 8 | p[3]);
  enum kind kind = ptype == 0x6558 ? K_GRETAP : K_GRE;
  if (ptype != 0x6558 && ptype != 0x0800 && ptype != 0x86dd) { drops.bad_protocol++; return; }
  size_t off = 4;
  if (flags & 0x8000) off += 4;                                      // checksum + reserved1 (not verified)
  int has_key = !!(flags & 0x2000);
  uint32_t key = 0;
  if (has_key) {
    if (len < off + 4) { drops.truncated++; return; }
    memcpy(&key, p + off, 4); key = ntohl(key); off += 4;
  }
  if (flags & 0x1000) off += 4;                                      // sequence number (ignored)
  if (len < off) { drops.truncated++; return; }
  int peer = 0;
  struct tunnel *t = find_gre(kind, family, src, has_key, key, &peer);
  if (!t) {
    if (peer == 1) drops.unknown_key++; else if (peer == 2) drops.bad_protocol++; else drops.unknown_peer++;
    return;
  }
  if (kind == K_GRE) {
    // A TUN takes an IP packet whose version matches what GRE said it is.
    if (len - off < 1) { drops.truncated++; return; }
    if ((p[off] >> 4) != (ptype == 0x0800 ? 4 : 6)) { drops.bad_protocol++; return; }
  }
  deliver(t, p + off, len - off);
}

static void raw_readable(int fi, int pi) {
  int family = fi == 0 ? AF_INET : AF_INET6, proto = pi == 0 ? PROTO_GRE : PROTO_ETHERIP;
  static struct mmsghdr msgs[BATCH];
  static struct iovec iov[BATCH];
  static struct sockaddr_in6 from[BATCH];
  // At most 8 batches per wake-up: under a flood on one socket the others
  // and the control socket still get their turn (epoll is level-triggered).
  for (int round = 0; round < 8; round++) {
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = rxbuf[i]; iov[i].iov_len = RX_BUF;
      msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i]; msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(raw_fd[fi][pi], msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    for (int i = 0; i < n; i++) {
      uint8_t *p = rxbuf[i];
      size_t len = msgs[i].msg_len;
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) { drops.truncated++; continue; }
      if (family == AF_INET) {
        // IPv4 raw sockets hand us the IP header too; skip it by its IHL.
        if (len < 20) { drops.truncated++; continue; }
        size_t ihl = (size_t)(p[0] & 0x0f) * 4;
        if (ihl < 20 || len < ihl) { drops.truncated++; continue; }
        struct in_addr src; memcpy(&src, p + 12, 4);
        demux(AF_INET, proto, &src, p + ihl, len - ihl);
      } else {
        demux(AF_INET6, proto, &from[i].sin6_addr, p, len);
      }
    }
    gro_flush_all();   // the next recvmmsg reuses the buffers the merged frames point into
    if (n < BATCH) return;
  }
}

// One frame from an AF_XDP socket: the XDP program let through only IPv4
// without options (not a fragment) or IPv6 carrying protocol 47/97 between a
// tunnel's addresses; what the kernel's IP layer checks is checked here.
static void xsk_frame(uint8_t *p, size_t len) {
  if (len < ETH_HLEN + 20) { drops.truncated++; return; }
  uint8_t *ip = p + ETH_HLEN;
  size_t l = len - ETH_HLEN;
  if (p[12] == 0x08 && p[13] == 0x00) {
    if (csum_fold(csum_add(0, ip, 20)) != 0xffff) { drops.bad_ip_header++; return; }
    size_t tot = (size_t)(ip[2] << 8 | ip[3]);   // Ethernet padding beyond it is not ours
    if (tot < 20 || tot > l) { drops.bad_ip_header++; return; }
    struct in_addr src; memcpy(&src, ip + 12, 4);
    demux(AF_INET, ip[9], &src, ip + 20, tot - 20);
  } else {
    if (l < 40) { drops.truncated++; return; }
    size_t plen = (size_t)(ip[4] << 8 | ip[5]);
    if (40 + plen > l) { drops.bad_ip_header++; return; }
    struct in6_addr src; memcpy(&src, ip + 8, 16);
    demux(AF_INET6, ip[6], &src, ip + 40, plen);
  }
}

static void xsk_readable(int slot, int q) {
  struct xport *x = ports[slot].x;
  if (!x) return;
  static struct xframe fr[BATCH];
  rx_fast = 1;
  for (int round = 0; round < 8; round++) {
    int n = xport_rx_peek(x, q, fr, BATCH);
    if (n <= 0) break;
    for (int i = 0; i < n; i++) xsk_frame(fr[i].data, fr[i].len);
    gro_flush_all();   // merged frames point into the UMEM frames released next
    xport_rx_release(x, q, n);
    if (n < BATCH) break;
  }
  rx_fast = 0;
}

// ---- control -----------------------------------------------------------------

static void reply(int fd, const char *s) {
  size_t len = strlen(s), off = 0;
  while (off < len) {
    ssize_t w = write(fd, s + off, len - off);
    if (w < 0) { if (errno == EINTR) continue; return; }
    off += (size_t)w;
  }
}

// Values are interface names, addresses and numbers; reject anything else so
// JSON replies never need escaping.
static int safe_value(const char *v) {
  for (; *v; v++) if (!(*v == '-' || *v == '_' || *v == '.' || *v == ':' || (*v >= '0' && *v <= '9') ||
                        (*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z'))) return 0;
  return 1;
}

static const char *arg(char **keys, char **vals, int n, const char *k) {
  for (int i = 0; i < n; i++) if (!strcmp(keys[i], k)) return vals[i];
  return NULL;
}

static int parse_addr(const char *s, int *family, struct in6_addr *out) {
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, s, out) == 1) { *family = AF_INET; return 0; }
  if (inet_pton(AF_INET6, s, out) == 1) { *family = AF_INET6; return 0; }
  return -1;
}

static struct tunnel *find_name(const char *name) {
  for (int i = 0; i < MAX_TUNNELS; i++) if (tunnels[i].used && !strcmp(tunnels[i].name, name)) return &tunnels[i];
  return NULL;
}

static void cmd_add(int fd, char **keys, char **vals, int n) {
  char err[256];
  const char *name = arg(keys, vals, n, "name"), *kind = arg(keys, vals, n, "kind");
  const char *local = arg(keys, vals, n, "local"), *remote = arg(keys, vals, n, "remote");
  const char *key = arg(keys, vals, n, "key"), *mtu = arg(keys, vals, n, "mtu"), *mac = arg(keys, vals, n, "mac");
  if (!name || !kind || !local || !remote) { reply(fd, "{\"ok\":false,\"error\":\"add needs name, kind, local, remote\"}\n"); return; }
  if (strlen(name) >= IFNAMSIZ) { reply(fd, "{\"ok\":false,\"error\":\"name longer than 15 bytes\"}\n"); return; }
  struct tunnel t = {0};
  t.used = 1;
  snprintf(t.name, sizeof t.name, "%s", name);
  if (!strcmp(kind, "etherip")) t.kind = K_ETHERIP;
  else if (!strcmp(kind, "gretap")) t.kind = K_GRETAP;
  else if (!strcmp(kind, "gre")) t.kind = K_GRE;
  else { reply(fd, "{\"ok\":false,\"error\":\"kind must be etherip, gretap or gre\"}\n"); return; }
  int lf, rf;
  if (parse_addr(local, &lf, &t.local) || parse_addr(remote, &rf, &t.remote) || lf != rf) {
    reply(fd, "{\"ok\":false,\"error\":\"local and remote must be addresses of one family\"}\n"); return;
  }
  t.family = lf;
  if (key) {
    if (t.kind == K_ETHERIP) { reply(fd, "{\"ok\":false,\"error\":\"only gretap and gre have a key\"}\n"); return; }
    char *end; unsigned long k = strtoul(key, &end, 10);
    if (*end || k > 0xffffffffUL) { reply(fd, "{\"ok\":false,\"error\":\"key must be a 32-bit number\"}\n"); return; }
    t.has_key = 1; t.key = (uint32_t)k;
  }
  if (mac && t.kind == K_GRE) { reply(fd, "{\"ok\":false,\"error\":\"a gre tunnel (TUN) has no mac\"}\n"); return; }
  if (mac) {
    unsigned b[6]; char extra;
    if (sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &extra) != 6 || (b[0] & 1)) {
      reply(fd, "{\"ok\":false,\"error\":\"mac must be a unicast xx:xx:xx:xx:xx:xx\"}\n"); return;
    }
    t.has_mac = 1;
    for (int i = 0; i < 6; i++) t.mac[i] = (uint8_t)b[i];
  }
  t.underlay_mtu = mtu ? atoi(mtu) : 1500;
  t.mtu = t.underlay_mtu - overhead(&t);
  if (t.mtu < 68) { reply(fd, "{\"ok\":false,\"error\":\"underlay mtu too small\"}\n"); return; }
  struct tunnel *old = find_name(name);
  if (old) {
    // Idempotent: the same tunnel again is success; a different one is a conflict.
    int same = old->kind == t.kind && old->family == t.family && !memcmp(&old->local, &t.local, 16) &&
               !memcmp(&old->remote, &t.remote, 16) && old->has_key == t.has_key && old->key == t.key &&
               old->underlay_mtu == t.underlay_mtu && old->has_mac == t.has_mac && !memcmp(old->mac, t.mac, 6);
    reply(fd, same ? "{\"ok\":true,\"existed\":true}\n" : "{\"ok\":false,\"error\":\"exists with other settings\",\"code\":\"EEXIST\"}\n");
    return;
  }
  // Two tunnels with one demux key would make one of them unreachable.
  if (lookup_key(t.kind, t.family, &t.remote, t.has_key, t.key)) {
    reply(fd, "{\"ok\":false,\"error\":\"another tunnel has this remote (and key)\",\"code\":\"EEXIST\"}\n"); return;
  }
  int slot = -1;
  for (int i = 0; i < MAX_TUNNELS; i++) if (!tunnels[i].used) { slot = i; break; }
  if (slot < 0) { reply(fd, "{\"ok\":false,\"error\":\"too many tunnels\"}\n"); return; }
  t.fd = tap_open(name, t.kind == K_GRE, t.mtu, t.has_mac ? t.mac : NULL, err, sizeof err);
  if (t.fd < 0) { char b[400]; snprintf(b, sizeof b, "{\"ok\":false,\"error\":\"%s\"}\n", err); reply(fd, b); return; }
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag(T_TAP, (uint32_t)slot) };
  epoll_ctl(epfd, EPOLL_CTL_ADD, t.fd, &ev);
  t.port = -1;
  path_update(&t);
  tunnels[slot] = t;
  demux_add(slot);
  allow_update(&tunnels[slot], 1);
  resolve(&tunnels[slot]);   // opens the fast path's port now, so receiving uses it from the first packet
  char b[128]; snprintf(b, sizeof b, "{\"ok\":true,\"mtu\":%d}\n", t.mtu); reply(fd, b);
}

static void cmd_del(int fd, const char *name) {
  struct tunnel *t = name ? find_name(name) : NULL;
  // Already gone is success (deleteX semantics).
  if (t) {
    demux_del((int)(t - tunnels));   // (no merged frame is pending: batches are flushed before control runs)
    allow_update(t, 0);
    port_put(t->port);
    epoll_ctl(epfd, EPOLL_CTL_DEL, t->fd, NULL); close(t->fd); memset(t, 0, sizeof *t);
  }
  reply(fd, t ? "{\"ok\":true}\n" : "{\"ok\":true,\"existed\":false}\n");
}

// One entry of list's xdp.failed: the device and why, as a plain JSON string.
static size_t failed_json(char *out, size_t room, int ifindex, const char *why, int *first) {
  char name[IF_NAMESIZE] = "?", e[160];
  if_indextoname((unsigned)ifindex, name);
  size_t k = 0;
  for (const char *c = why; *c && k < sizeof e - 1; c++) if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20) e[k++] = *c;
  e[k] = 0;
  size_t n = (size_t)snprintf(out, room, "%s{\"device\":\"%s\",\"error\":\"%s\"}", *first ? "" : ",", name, e);
  *first = 0;
  return n;
}

static void cmd_list(int fd) {
  static char out[MAX_TUNNELS * 700 + MAX_PORTS * 400 + 1024];
  size_t o = 0;
  o += (size_t)snprintf(out + o, sizeof out - o,
    "{\"ok\":true,\"drops\":{\"truncated\":%lu,\"badVersion\":%lu,\"badFlags\":%lu,\"badProtocol\":%lu,\"unknownPeer\":%lu,\"unknownKey\":%lu,\"badIpHeader\":%lu},",
    drops.truncated, drops.bad_version, drops.bad_flags, drops.bad_protocol, drops.unknown_peer, drops.unknown_key, drops.bad_ip_header);
  // The fast path: whether it is on, the devices it is attached to, the ones it could not attach to and why.
  o += (size_t)snprintf(out + o, sizeof out - o, "\"xdp\":{\"status\":\"%s\",\"ports\":[", xdp_status);
  int firstp = 1;
  for (int i = 0; i < MAX_PORTS; i++) {
    if (!ports[i].x) continue;
    char name[IF_NAMESIZE] = "?"; if_indextoname((unsigned)ports[i].ifindex, name);
    o += (size_t)snprintf(out + o, sizeof out - o, "%s{\"device\":\"%s\",\"mode\":\"%s\",\"queues\":%d,\"tunnels\":%d,\"rxLost\":%lu}",
                          firstp ? "" : ",", name, xport_mode(ports[i].x), xport_queues(ports[i].x), ports[i].refs, xport_rx_lost(ports[i].x));
    firstp = 0;
  }
  o += (size_t)snprintf(out + o, sizeof out - o, "],\"failed\":[");
  int firstf = 1;
  for (int i = 0; i < MAX_PORTS; i++) if (ports[i].refs && !ports[i].x) o += failed_json(out + o, sizeof out - o, ports[i].ifindex, ports[i].err, &firstf);
  if (ports_full) o += failed_json(out + o, sizeof out - o, ports_full, "more than 16 underlay devices", &firstf);
  o += (size_t)snprintf(out + o, sizeof out - o, "]},\"tunnels\":[");
  int first = 1;
  for (int i = 0; i < MAX_TUNNELS; i++) {
    struct tunnel *t = &tunnels[i];
    if (!t->used) continue;
    char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN], k[24] = "null", m[24] = "null";
    inet_ntop(t->family, &t->local, l, sizeof l); inet_ntop(t->family, &t->remote, r, sizeof r);
    if (t->has_key) snprintf(k, sizeof k, "%u", t->key);
    if (t->has_mac) snprintf(m, sizeof m, "\"%02x:%02x:%02x:%02x:%02x:%02x\"", t->mac[0], t->mac[1], t->mac[2], t->mac[3], t->mac[4], t->mac[5]);
    o += (size_t)snprintf(out + o, sizeof out - o,
      "%s{\"name\":\"%s\",\"kind\":\"%s\",\"local\":\"%s\",\"remote\":\"%s\",\"key\":%s,\"mac\":%s,\"underlayMtu\":%d,\"mtu\":%d,\"pathMtu\":%d,\"tooBig\":%lu,"
      "\"txPackets\":%lu,\"txBytes\":%lu,\"rxPackets\":%lu,\"rxBytes\":%lu,\"txDropOversize\":%lu,\"txDropError\":%lu,\"rxDropError\":%lu,\"txGsoFrames\":%lu,\"rxGroFrames\":%lu,\"detached\":%s,"
      "\"fastPath\":%s,\"txXdp\":%lu,\"rxXdp\":%lu}",
      first ? "" : ",", t->name, kind_name[t->kind], l, r, k, m, t->underlay_mtu, t->mtu, t->path, t->too_big,
      t->tx_packets, t->tx_bytes, t->rx_packets, t->rx_bytes, t->tx_drop_oversize, t->tx_drop_error, t->rx_drop_error, t->tx_gso, t->rx_gro,
      t->detached ? "true" : "false", t->fast ? "true" : "false", t->tx_xdp, t->rx_xdp);
    first = 0;
  }
  o += (size_t)snprintf(out + o, sizeof out - o, "]}\n");
  reply(fd, out);
}

static void command(int fd, char *line) {
  char *keys[16], *vals[16], *words[17];
  int nw = 0;
  for (char *s = strtok(line, " \t\r"); s && nw < 17; s = strtok(NULL, " \t\r")) words[nw++] = s;
  if (nw == 0) return;
  int n = 0;
  for (int i = 1; i < nw && n < 16; i++) {
    char *eq = strchr(words[i], '=');
    if (!eq || !safe_value(eq + 1)) { reply(fd, "{\"ok\":false,\"error\":\"arguments are key=value with plain values\"}\n"); return; }
    *eq = 0; keys[n] = words[i]; vals[n] = eq + 1; n++;
  }
  if (!strcmp(words[0], "add")) cmd_add(fd, keys, vals, n);
  else if (!strcmp(words[0], "del")) cmd_del(fd, arg(keys, vals, n, "name"));
  else if (!strcmp(words[0], "list")) cmd_list(fd);
  else if (!strcmp(words[0], "ping")) { char b[64]; snprintf(b, sizeof b, "{\"ok\":true,\"pid\":%d}\n", getpid()); reply(fd, b); }
  else reply(fd, "{\"ok\":false,\"error\":\"unknown command\"}\n");
}

static void client_readable(int ci) {
  struct client *c = &clients[ci];
  ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
  if (r <= 0) {
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); c->fd = -1; c->len = 0; return;
  }
  c->len += (size_t)r;
  char *nl;
  while ((nl = memchr(c->buf, '\n', c->len))) {
    *nl = 0;
    if (c->discarding) c->discarding = 0;   // one reply per line, also for a too-long one
    else command(c->fd, c->buf);
    size_t used = (size_t)(nl + 1 - c->buf);
    memmove(c->buf, nl + 1, c->len - used); c->len -= used;
  }
  if (c->len == sizeof c->buf - 1) {
    if (!c->discarding) reply(c->fd, "{\"ok\":false,\"error\":\"line too long\"}\n");
    c->discarding = 1; c->len = 0;
  }
}

static void ctl_accept(void) {
  int fd = accept4(ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CLIENTS; i++) if (clients[i].fd < 0) {
    clients[i].fd = fd; clients[i].len = 0; clients[i].discarding = 0;
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag(T_CLIENT, (uint32_t)i) };
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    return;
  }
  close(fd);   // too many clients; the agent uses one
}

static void on_signal(int sig) { (void)sig; stopping = 1; }

int main(int argc, char **argv) {
  enum xdp_mode xmode = XDP_AUTO;
  for (int i = 1; i + 1 < argc; i++) {
    if (!strcmp(argv[i], "--control")) ctl_path = argv[i + 1];
    if (!strcmp(argv[i], "--xdp")) {
      const char *m = argv[i + 1];
      if (!strcmp(m, "auto")) xmode = XDP_AUTO; else if (!strcmp(m, "off")) xmode = XDP_OFF;
      else if (!strcmp(m, "native")) xmode = XDP_NATIVE; else if (!strcmp(m, "generic")) xmode = XDP_GENERIC;
      else { fprintf(stderr, "visp-engine: --xdp is auto, off, native or generic (got %s)\n", m); return 2; }
    }
  }
  if (!ctl_path) { fprintf(stderr, "usage: visp-engine --control /path/to/socket [--xdp auto|off|native|generic]\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction(SIGTERM, &sa, NULL); sigaction(SIGINT, &sa, NULL);
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
  for (int i = 0; i < HSIZE; i++) by_key[i] = by_peer[i] = -1;

  epfd = epoll_create1(EPOLL_CLOEXEC);
  {
    char err[160];
    xdp_on = xdp_init(xmode, err, sizeof err) == 0;
    if (xdp_on) snprintf(xdp_status, sizeof xdp_status, "%s", xmode == XDP_AUTO ? "auto" : xmode == XDP_NATIVE ? "native" : "generic");
    else { snprintf(xdp_status, sizeof xdp_status, "off: %s", err); if (xmode != XDP_OFF) logf_("fast path off: %s; raw sockets only", err); }
  }
  for (int f = 0; f < 2; f++) for (int p = 0; p < 2; p++) {
    int fam = f ? AF_INET6 : AF_INET, proto = p ? PROTO_ETHERIP : PROTO_GRE;
    raw_fd[f][p] = open_raw(fam, proto);
    if (raw_fd[f][p] < 0) {
      // No IPv6 in this namespace is survivable; no IPv4 raw socket is not.
      logf_("raw socket family %d proto %d: %s", fam, proto, strerror(errno));
      if (!f) return 1;
      continue;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag(T_RAW, (uint32_t)(f * 2 + p)) };
    epoll_ctl(epfd, EPOLL_CTL_ADD, raw_fd[f][p], &ev);
  }

  ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  if (strlen(ctl_path) >= sizeof sun.sun_path) { logf_("control path too long"); return 2; }
  strcpy(sun.sun_path, ctl_path);
  unlink(ctl_path);   // a stale socket from a killed engine
  if (bind(ctl_fd, (struct sockaddr *)&sun, sizeof sun) < 0 || listen(ctl_fd, 8) < 0) {
    logf_("control socket %s: %s", ctl_path, strerror(errno)); return 1;
  }
  struct epoll_event cev = { .events = EPOLLIN, .data.u64 = tag(T_CTL, 0) };
  epoll_ctl(epfd, EPOLL_CTL_ADD, ctl_fd, &cev);
  logf_("ready on %s", ctl_path);

  struct epoll_event evs[64];
  int64_t next_refresh = now_ms() + 250;
  int ticks = 0;
  while (!stopping) {
    int64_t now = now_ms();
    if (now >= next_refresh) {
      refresh(++ticks % 4 == 0);
      // Every second, the path MTU of each tunnel that sent (or was refused) since its last look.
      if (ticks % 4 == 0) for (int i = 0; i < MAX_TUNNELS; i++) {
        struct tunnel *t = &tunnels[i];
        if (t->used && t->tx_packets + t->too_big != t->path_seen) path_update(t);
      }
      next_refresh = now + 250;
    }
    int n = epoll_wait(epfd, evs, 64, (int)(next_refresh - now));
    if (n < 0) { if (errno == EINTR) continue; logf_("epoll_wait: %s", strerror(errno)); break; }
    for (int i = 0; i < n; i++) {
      uint32_t t = (uint32_t)(evs[i].data.u64 >> 32), idx = (uint32_t)evs[i].data.u64;
      switch (t) {
      case T_RAW: raw_readable((int)idx / 2, (int)idx % 2); break;
      // A tunnel deleted earlier in this batch has used == 0: skip its stale event.
      case T_TAP: if (tunnels[idx].used) tap_readable(&tunnels[idx]); break;
      case T_CTL: ctl_accept(); break;
      case T_CLIENT: if (clients[idx].fd >= 0) client_readable((int)idx); break;
      case T_XSK: xsk_readable((int)idx / XPORT_MAX_QUEUES, (int)idx % XPORT_MAX_QUEUES); break;
      default: break;
      }
    }
  }
  unlink(ctl_path);
  logf_("stopped");
  return 0;
}
