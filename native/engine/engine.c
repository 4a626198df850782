// visp-engine: a userspace tunnel data plane for kernels that have no driver
// for the encapsulation (EtherIP never has one in Linux; GRE and gretap are
// missing where ip_gre cannot load).
//
// One process per node, inside the node's network namespace. Each tunnel is a
// TAP device (layer 2: etherip, gretap) or a TUN device (layer 3: gre) the
// engine creates; what is read from it is encapsulated and sent over a raw IP
// socket, and packets received on the raw sockets are demultiplexed back to a
// tunnel and written to its device.
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
// One thread, one epoll loop: on a 2-core node a thread per direction would
// compete with the kernel's own softirq work; batching (recvmmsg/sendmmsg)
// is where the syscall cost goes down.
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
#include <unistd.h>

#define MAX_TUNNELS 1024
#define MAX_CLIENTS 16
#define BATCH 32
#define BUF_SIZE 65536      // a whole reassembled IP datagram fits
#define HDR_ROOM 16         // room before a TAP frame for the largest header (GRE+key = 8)
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
};

// discarding: the rest of a too-long line, answered already, is skipped up to its newline.
struct client { int fd; int discarding; size_t len; char buf[4096]; };

// Drops that belong to no tunnel: the wire was wrong, not a tunnel.
static struct {
  uint64_t truncated, bad_version, bad_flags, bad_protocol, unknown_peer, unknown_key;
} drops;

static struct tunnel tunnels[MAX_TUNNELS];
static struct client clients[MAX_CLIENTS];
static int epfd, ctl_fd;
static int raw_fd[2][2];                // [v4|v6][gre|etherip]
static volatile sig_atomic_t stopping;
static const char *ctl_path;

// epoll tags: high byte says what the fd is, the rest indexes its table.
enum tag { T_RAW = 1, T_TAP, T_CTL, T_CLIENT };
static uint64_t tag(enum tag t, uint32_t i) { return ((uint64_t)t << 32) | i; }

static void logf_(const char *fmt, ...) {
  va_list ap; va_start(ap, fmt);
  fprintf(stderr, "visp-engine: "); vfprintf(stderr, fmt, ap); fputc('\n', stderr);
  va_end(ap);
}

static int overhead(const struct tunnel *t) {
  int ip = t->family == AF_INET ? 20 : 40;
  int enc = t->kind == K_ETHERIP ? 2 : 4 + (t->has_key ? 4 : 0);
  return ip + enc + (t->kind == K_GRE ? 0 : ETH_HLEN);
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
  ifr.ifr_flags = (tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI;
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
  // Non-persistent: the TAP goes away with the fd, so a dead engine leaves nothing.
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    snprintf(err, errlen, "TUNSETIFF %s: %s", name, strerror(errno)); close(fd); return -1;
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

// ---- transmit: TAP → underlay -----------------------------------------------

static uint8_t txbuf[BATCH][BUF_SIZE + HDR_ROOM];

static void tap_readable(struct tunnel *t) {
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  union { struct sockaddr_in v4; struct sockaddr_in6 v6; } dst;
  union { char c[CMSG_SPACE(sizeof(struct in6_pktinfo))]; struct cmsghdr align; } cbuf[BATCH];
  memset(&dst, 0, sizeof dst);
  socklen_t dlen;
  if (t->family == AF_INET) {
    dst.v4.sin_family = AF_INET; memcpy(&dst.v4.sin_addr, &t->remote, 4); dlen = sizeof dst.v4;
  } else {
    dst.v6.sin6_family = AF_INET6; dst.v6.sin6_addr = t->remote; dlen = sizeof dst.v6;
  }
  int hlen = t->kind == K_ETHERIP ? 2 : 4 + (t->has_key ? 4 : 0);
  int n = 0;
  // Drain up to BATCH frames (TAP has no batched read), then one sendmmsg.
  while (n < BATCH) {
    uint8_t *frame = txbuf[n] + HDR_ROOM;
    ssize_t len = read(t->fd, frame, BUF_SIZE);
    if (len < 0) { if (errno != EAGAIN && errno != EINTR) t->tx_drop_error++; break; }
    int l2 = t->kind == K_GRE ? 0 : ETH_HLEN;
    if (len < (l2 ? ETH_HLEN : 1)) { t->tx_drop_error++; continue; }
    if (len > t->mtu + l2) { t->tx_drop_oversize++; continue; }   // never fragment silently
    // gre: the GRE protocol type says what is inside, by the IP version nibble.
    uint16_t ptype = 0x6558;
    if (t->kind == K_GRE) {
      int v = frame[0] >> 4;
      if (v == 4) ptype = 0x0800; else if (v == 6) ptype = 0x86dd;
      else { t->tx_drop_error++; continue; }
    }
    uint8_t *h = frame - hlen;   // header written in place: no copy of the frame
    if (t->kind == K_ETHERIP) { h[0] = 0x30; h[1] = 0x00; }
    else {
      h[0] = t->has_key ? 0x20 : 0x00; h[1] = 0x00; h[2] = (uint8_t)(ptype >> 8); h[3] = (uint8_t)ptype;
      if (t->has_key) { uint32_t k = htonl(t->key); memcpy(h + 4, &k, 4); }
    }
    iov[n].iov_base = h; iov[n].iov_len = (size_t)len + hlen;
    struct msghdr *m = &msgs[n].msg_hdr;
    memset(m, 0, sizeof *m);
    m->msg_name = &dst; m->msg_namelen = dlen;
    m->msg_iov = &iov[n]; m->msg_iovlen = 1;
    // Source address = the tunnel's local, so the far end's demux matches.
    m->msg_control = cbuf[n].c;
    struct cmsghdr *c;
    if (t->family == AF_INET) {
      m->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
      c = CMSG_FIRSTHDR(m); c->cmsg_level = IPPROTO_IP; c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
      struct in_pktinfo pi = {0}; memcpy(&pi.ipi_spec_dst, &t->local, 4);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    } else {
      m->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
      c = CMSG_FIRSTHDR(m); c->cmsg_level = IPPROTO_IPV6; c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
      struct in6_pktinfo pi = {0}; pi.ipi6_addr = t->local;
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
    n++;
  }
  if (n == 0) return;
  int fd = raw_fd[t->family == AF_INET ? 0 : 1][t->kind == K_ETHERIP ? 1 : 0];
  int sent = 0;
  while (sent < n) {
    int r = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      // EAGAIN/EMSGSIZE/unreachable: drop this one and go on with the rest.
      t->tx_drop_error++; sent++; continue;
    }
    for (int i = sent; i < sent + r; i++) { t->tx_packets++; t->tx_bytes += iov[i].iov_len - hlen; }
    sent += r;
  }
}

// ---- receive: underlay → TAP -------------------------------------------------

static uint8_t rxbuf[BATCH][BUF_SIZE];

// peer: 0 no GRE tunnel has this remote, 1 one of this kind does (so the key
// is wrong), 2 only tunnels of the other GRE kind do (so the protocol is).
static struct tunnel *find_gre(enum kind kind, int family, const void *src, int has_key, uint32_t key, int *peer) {
  for (int i = 0; i < MAX_TUNNELS; i++) {
    struct tunnel *t = &tunnels[i];
    if (!t->used || t->kind == K_ETHERIP || !addr_eq(t, family, src)) continue;
    if (t->kind != kind) { if (!*peer) *peer = 2; continue; }
    *peer = 1;
    if (t->has_key == has_key && (!has_key || t->key == key)) return t;
  }
  return NULL;
}
static struct tunnel *find_etherip(int family, const void *src) {
  for (int i = 0; i < MAX_TUNNELS; i++)
    if (tunnels[i].used && tunnels[i].kind == K_ETHERIP && addr_eq(&tunnels[i], family, src)) return &tunnels[i];
  return NULL;
}

static void deliver(struct tunnel *t, const uint8_t *frame, size_t len) {
  if (t->kind != K_GRE && len < ETH_HLEN) { drops.truncated++; return; }
  if (write(t->fd, frame, len) < 0) { t->rx_drop_error++; return; }   // TAP down / queue full
  t->rx_packets++; t->rx_bytes += len;
}

// One received datagram: p/len start at the encapsulation header.
static void demux(int family, int proto, const void *src, const uint8_t *p, size_t len) {
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
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in6 from[BATCH];
  // At most 8 batches per wake-up: under a flood on one socket the others
  // and the control socket still get their turn (epoll is level-triggered).
  for (int round = 0; round < 8; round++) {
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
      iov[i].iov_base = rxbuf[i]; iov[i].iov_len = BUF_SIZE;
      msgs[i].msg_hdr.msg_iov = &iov[i]; msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i]; msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    }
    int n = recvmmsg(raw_fd[fi][pi], msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    for (int i = 0; i < n; i++) {
      const uint8_t *p = rxbuf[i];
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
    if (n < BATCH) return;
  }
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
  for (int i = 0; i < MAX_TUNNELS; i++) {
    struct tunnel *o = &tunnels[i];
    if (o->used && o->kind == t.kind && addr_eq(o, t.family, &t.remote) && o->has_key == t.has_key && o->key == t.key) {
      reply(fd, "{\"ok\":false,\"error\":\"another tunnel has this remote (and key)\",\"code\":\"EEXIST\"}\n"); return;
    }
  }
  int slot = -1;
  for (int i = 0; i < MAX_TUNNELS; i++) if (!tunnels[i].used) { slot = i; break; }
  if (slot < 0) { reply(fd, "{\"ok\":false,\"error\":\"too many tunnels\"}\n"); return; }
  t.fd = tap_open(name, t.kind == K_GRE, t.mtu, t.has_mac ? t.mac : NULL, err, sizeof err);
  if (t.fd < 0) { char b[400]; snprintf(b, sizeof b, "{\"ok\":false,\"error\":\"%s\"}\n", err); reply(fd, b); return; }
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag(T_TAP, (uint32_t)slot) };
  epoll_ctl(epfd, EPOLL_CTL_ADD, t.fd, &ev);
  tunnels[slot] = t;
  char b[128]; snprintf(b, sizeof b, "{\"ok\":true,\"mtu\":%d}\n", t.mtu); reply(fd, b);
}

static void cmd_del(int fd, const char *name) {
  struct tunnel *t = name ? find_name(name) : NULL;
  // Already gone is success (deleteX semantics).
  if (t) { epoll_ctl(epfd, EPOLL_CTL_DEL, t->fd, NULL); close(t->fd); memset(t, 0, sizeof *t); }
  reply(fd, t ? "{\"ok\":true}\n" : "{\"ok\":true,\"existed\":false}\n");
}

static void cmd_list(int fd) {
  static char out[MAX_TUNNELS * 512 + 1024];
  size_t o = 0;
  o += (size_t)snprintf(out + o, sizeof out - o,
    "{\"ok\":true,\"drops\":{\"truncated\":%lu,\"badVersion\":%lu,\"badFlags\":%lu,\"badProtocol\":%lu,\"unknownPeer\":%lu,\"unknownKey\":%lu},\"tunnels\":[",
    drops.truncated, drops.bad_version, drops.bad_flags, drops.bad_protocol, drops.unknown_peer, drops.unknown_key);
  int first = 1;
  for (int i = 0; i < MAX_TUNNELS; i++) {
    struct tunnel *t = &tunnels[i];
    if (!t->used) continue;
    char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN], k[24] = "null", m[24] = "null";
    inet_ntop(t->family, &t->local, l, sizeof l); inet_ntop(t->family, &t->remote, r, sizeof r);
    if (t->has_key) snprintf(k, sizeof k, "%u", t->key);
    if (t->has_mac) snprintf(m, sizeof m, "\"%02x:%02x:%02x:%02x:%02x:%02x\"", t->mac[0], t->mac[1], t->mac[2], t->mac[3], t->mac[4], t->mac[5]);
    o += (size_t)snprintf(out + o, sizeof out - o,
      "%s{\"name\":\"%s\",\"kind\":\"%s\",\"local\":\"%s\",\"remote\":\"%s\",\"key\":%s,\"mac\":%s,\"underlayMtu\":%d,\"mtu\":%d,"
      "\"txPackets\":%lu,\"txBytes\":%lu,\"rxPackets\":%lu,\"rxBytes\":%lu,\"txDropOversize\":%lu,\"txDropError\":%lu,\"rxDropError\":%lu}",
      first ? "" : ",", t->name, kind_name[t->kind], l, r, k, m, t->underlay_mtu, t->mtu,
      t->tx_packets, t->tx_bytes, t->rx_packets, t->rx_bytes, t->tx_drop_oversize, t->tx_drop_error, t->rx_drop_error);
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
  for (int i = 1; i + 1 < argc; i++) if (!strcmp(argv[i], "--control")) ctl_path = argv[i + 1];
  if (!ctl_path) { fprintf(stderr, "usage: visp-engine --control /path/to/socket\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = { .sa_handler = on_signal };
  sigaction(SIGTERM, &sa, NULL); sigaction(SIGINT, &sa, NULL);
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;

  epfd = epoll_create1(EPOLL_CLOEXEC);
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
  while (!stopping) {
    int n = epoll_wait(epfd, evs, 64, -1);
    if (n < 0) { if (errno == EINTR) continue; logf_("epoll_wait: %s", strerror(errno)); break; }
    for (int i = 0; i < n; i++) {
      uint32_t t = (uint32_t)(evs[i].data.u64 >> 32), idx = (uint32_t)evs[i].data.u64;
      switch (t) {
      case T_RAW: raw_readable((int)idx / 2, (int)idx % 2); break;
      // A tunnel deleted earlier in this batch has used == 0: skip its stale event.
      case T_TAP: if (tunnels[idx].used) tap_readable(&tunnels[idx]); break;
      case T_CTL: ctl_accept(); break;
      case T_CLIENT: if (clients[idx].fd >= 0) client_readable((int)idx); break;
      default: break;
      }
    }
  }
  unlink(ctl_path);
  logf_("stopped");
  return 0;
}
