// AF_XDP fast underlay (see xdp.h): the XDP program, its maps, the BPF link
// and the sockets with their rings. Raw bpf(2) calls and a hand-assembled
// program, so the engine needs no libbpf and no BPF compiler.
#define _GNU_SOURCE
#include "xdp.h"
#include "netdev.h"

#include <errno.h>
#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif

#define FRAME 4096u          // one UMEM chunk: room for a ~3.8 KB underlay frame
#define RX_FRAMES 4096u      // per queue; also the fill and RX ring sizes (1024 overflowed under a 3.5 Gbit/s TCP burst)
#define TX_FRAMES 2048u      // queue 0 only; also the TX and completion ring sizes

static enum xdp_mode g_mode = XDP_OFF;
static int allow_fd = -1;    // hash: {u32 family, u8 addr[16]} -> u32

static long sys_bpf(int cmd, union bpf_attr *a) { return syscall(__NR_bpf, cmd, a, sizeof *a); }

static int map_create(enum bpf_map_type type, unsigned key, unsigned value, unsigned entries) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = type; a.key_size = key; a.value_size = value; a.max_entries = entries;
  return (int)sys_bpf(BPF_MAP_CREATE, &a);
}

static int map_update(int fd, const void *key, const void *value) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)fd; a.key = (uint64_t)(uintptr_t)key; a.value = (uint64_t)(uintptr_t)value; a.flags = BPF_ANY;
  return (int)sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static int map_delete(int fd, const void *key) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)fd; a.key = (uint64_t)(uintptr_t)key;
  return (int)sys_bpf(BPF_MAP_DELETE_ELEM, &a);
}

struct allow_key { uint32_t family; uint8_t remote[16], local[16]; };

int xdp_init(enum xdp_mode mode, char *err, size_t errlen) {
  g_mode = mode;
  if (mode == XDP_OFF) { snprintf(err, errlen, "off by request"); return -1; }
  allow_fd = map_create(BPF_MAP_TYPE_HASH, sizeof(struct allow_key), 4, 4096);
  if (allow_fd < 0) { snprintf(err, errlen, "bpf map: %s", strerror(errno)); g_mode = XDP_OFF; return -1; }
  return 0;
}

int xdp_allow(int family, const void *remote, const void *local, int on) {
  if (allow_fd < 0) return 0;
  struct allow_key k;
  memset(&k, 0, sizeof k);
  k.family = family == AF_INET ? 4 : 6;
  memcpy(k.remote, remote, family == AF_INET ? 4 : 16);
  memcpy(k.local, local, family == AF_INET ? 4 : 16);
  uint32_t one = 1;
  return on ? map_update(allow_fd, &k, &one) : map_delete(allow_fd, &k);
}

// ---- the XDP program ----------------------------------------------------------
//
// Redirects to the queue's AF_XDP socket exactly the packets the engine
// would take from a raw socket and that need nothing from the kernel's IP
// layer: untagged Ethernet, IPv4 without options and not a fragment, or IPv6
// whose next header is GRE/EtherIP itself, protocol 47 or 97, between a
// tunnel's remote and local addresses (so transit traffic is left alone). Everything else passes to the kernel as if no
// program were there (a queue without a socket, too: redirect's fallback).

struct prog { struct bpf_insn i[128]; int n; int label[8]; int fix_at[24], fix_to[24], nfix; };

static void put(struct prog *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  p->i[p->n++] = (struct bpf_insn){ .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm };
}
static void jump(struct prog *p, uint8_t code, uint8_t dst, uint8_t src, int32_t imm, int label) {
  p->fix_at[p->nfix] = p->n; p->fix_to[p->nfix++] = label;
  put(p, code, dst, src, 0, imm);
}
static void here(struct prog *p, int label) { p->label[label] = p->n; }
static void load_map(struct prog *p, uint8_t dst, int fd) {
  put(p, BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
  put(p, 0, 0, 0, 0, 0);
}

enum { L_PASS, L_V4, L_V4OK, L_V6OK, L_LOOKUP };
#define LDX(sz, d, s, o) put(p, BPF_LDX | BPF_MEM | (sz), d, s, o, 0)
#define STX(sz, d, s, o) put(p, BPF_STX | BPF_MEM | (sz), d, s, o, 0)
#define ST(sz, d, o, imm) put(p, BPF_ST | BPF_MEM | (sz), d, 0, o, imm)

static void assemble(struct prog *p, int xsks_fd, const uint8_t mac[6]) {
  memset(p, 0, sizeof *p);
  // r6 = ctx; r2 = data; r3 = data_end (struct xdp_md: data 0, data_end 4, rx_queue_index 16)
  put(p, BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0);
  LDX(BPF_W, 2, 6, 0);
  LDX(BPF_W, 3, 6, 4);
  put(p, BPF_ALU64 | BPF_MOV | BPF_X, 4, 2, 0, 0);
  put(p, BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, 34);                // Ethernet + IPv4 header
  jump(p, BPF_JMP | BPF_JGT | BPF_X, 4, 3, 0, L_PASS);
  // Addressed to this device's MAC (as loaded little-endian): a frame for
  // another host (a flooding switch, promiscuous mode) is the kernel's to
  // drop, and a sender still using an old MAC must see that fail.
  int32_t lo = (int32_t)((uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 | (uint32_t)mac[3] << 24);
  LDX(BPF_W, 5, 2, 0);
  jump(p, BPF_JMP32 | BPF_JNE | BPF_K, 5, 0, lo, L_PASS);            // 32-bit compare: no sign extension
  LDX(BPF_H, 5, 2, 4);
  jump(p, BPF_JMP | BPF_JNE | BPF_K, 5, 0, mac[4] | mac[5] << 8, L_PASS);
  LDX(BPF_H, 5, 2, 12);                                            // EtherType, as a little-endian load
  jump(p, BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 0x0008, L_V4);
  jump(p, BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0xdd86, L_PASS);
  // IPv6: next header at 20, source at 22..37
  put(p, BPF_ALU64 | BPF_MOV | BPF_X, 4, 2, 0, 0);
  put(p, BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, 54);
  jump(p, BPF_JMP | BPF_JGT | BPF_X, 4, 3, 0, L_PASS);
  LDX(BPF_B, 5, 2, 20);
  jump(p, BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 47, L_V6OK);
  jump(p, BPF_JMP | BPF_JNE | BPF_K, 5, 0, 97, L_PASS);
  here(p, L_V6OK);   // key: family, then source and destination (22..53) as they are
  ST(BPF_W, 10, -40, 6);
  for (int w = 0; w < 8; w++) { LDX(BPF_W, 5, 2, (int16_t)(22 + 4 * w)); STX(BPF_W, 10, 5, (int16_t)(-36 + 4 * w)); }
  jump(p, BPF_JMP | BPF_JA, 0, 0, 0, L_LOOKUP);
  // IPv4: version/IHL must be 0x45, no MF and no offset, protocol at 23, source at 26
  here(p, L_V4);
  LDX(BPF_B, 5, 2, 14);
  jump(p, BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0x45, L_PASS);
  LDX(BPF_H, 5, 2, 20);
  put(p, BPF_ALU64 | BPF_AND | BPF_K, 5, 0, 0, 0xff3f);            // MF | fragment offset, byte-swapped
  jump(p, BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, L_PASS);
  LDX(BPF_B, 5, 2, 23);
  jump(p, BPF_JMP | BPF_JEQ | BPF_K, 5, 0, 47, L_V4OK);
  jump(p, BPF_JMP | BPF_JNE | BPF_K, 5, 0, 97, L_PASS);
  here(p, L_V4OK);   // key: family, source (26) and destination (30), each padded to 16 bytes
  ST(BPF_W, 10, -40, 4);
  LDX(BPF_W, 5, 2, 26); STX(BPF_W, 10, 5, -36);
  ST(BPF_W, 10, -32, 0); ST(BPF_W, 10, -28, 0); ST(BPF_W, 10, -24, 0);
  LDX(BPF_W, 5, 2, 30); STX(BPF_W, 10, 5, -20);
  ST(BPF_W, 10, -16, 0); ST(BPF_W, 10, -12, 0); ST(BPF_W, 10, -8, 0);
  // A tunnel's (remote, local)? Then to this queue's socket, or to the kernel when it has none.
  here(p, L_LOOKUP);
  load_map(p, 1, allow_fd);
  put(p, BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0);
  put(p, BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -40);
  put(p, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
  jump(p, BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, L_PASS);
  LDX(BPF_W, 2, 6, 16);
  load_map(p, 1, xsks_fd);
  put(p, BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, XDP_PASS);
  put(p, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map);
  put(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  here(p, L_PASS);
  put(p, BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, XDP_PASS);
  put(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  for (int k = 0; k < p->nfix; k++) p->i[p->fix_at[k]].off = (int16_t)(p->label[p->fix_to[k]] - p->fix_at[k] - 1);
}

static int prog_load(int xsks_fd, const uint8_t mac[6], char *err, size_t errlen) {
  struct prog p;
  assemble(&p, xsks_fd, mac);
  static char log[8192];
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_XDP;
  a.expected_attach_type = BPF_XDP;
  a.insns = (uint64_t)(uintptr_t)p.i; a.insn_cnt = (uint32_t)p.n;
  a.license = (uint64_t)(uintptr_t)"GPL";
  a.log_buf = (uint64_t)(uintptr_t)log; a.log_size = sizeof log; a.log_level = 1;
  log[0] = 0;
  int fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
  if (fd < 0) {
    // The verifier's last line says why.
    char *last = log, *nl;
    size_t L = strlen(log);
    while (L && log[L - 1] == '\n') log[--L] = 0;
    if ((nl = strrchr(log, '\n'))) last = nl + 1;
    snprintf(err, errlen, "bpf prog load: %s%s%s", strerror(errno), *last ? ": " : "", last);
  }
  return fd;
}

static int link_create(int prog_fd, int ifindex, uint32_t flags) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.link_create.prog_fd = (uint32_t)prog_fd;
  a.link_create.target_ifindex = (uint32_t)ifindex;
  a.link_create.attach_type = BPF_XDP;
  a.link_create.flags = flags;
  return (int)sys_bpf(BPF_LINK_CREATE, &a);
}

// ---- sockets and rings -----------------------------------------------------------

struct ring {
  uint32_t *producer, *consumer, *flags;
  void *descs;
  uint32_t mask;
  void *map; size_t maplen;
};

struct xsk {
  int fd;
  uint8_t *umem; size_t umem_len;
  struct ring rx, fill, tx, comp;
  uint32_t tx_local;            // TX producer not yet published
  uint64_t *free; uint32_t nfree;
};

struct xport {
  int nq, prog_fd, xsks_fd, link_fd, native;
  uint8_t mac[6];                 // the device's, as the program compares it
  struct xsk q[XPORT_MAX_QUEUES];
};

static int ring_map(int fd, struct ring *r, const struct xdp_ring_offset *o, uint32_t n, size_t desc_size, off_t pgoff) {
  r->maplen = o->desc + n * desc_size;
  r->map = mmap(NULL, r->maplen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
  if (r->map == MAP_FAILED) { r->map = NULL; return -1; }
  uint8_t *b = r->map;
  r->producer = (uint32_t *)(b + o->producer); r->consumer = (uint32_t *)(b + o->consumer);
  r->flags = (uint32_t *)(b + o->flags); r->descs = b + o->desc; r->mask = n - 1;
  return 0;
}

static void xsk_close(struct xsk *s) {
  struct ring *rs[] = { &s->rx, &s->fill, &s->tx, &s->comp };
  for (int i = 0; i < 4; i++) if (rs[i]->map) munmap(rs[i]->map, rs[i]->maplen);
  if (s->fd >= 0) close(s->fd);
  if (s->umem) munmap(s->umem, s->umem_len);
  free(s->free);
  memset(s, 0, sizeof *s);
  s->fd = -1;
}

// No bind flags: zero-copy where the driver has it, copy mode otherwise.
static int xsk_open(struct xsk *s, int ifindex, int queue, int tx, char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  s->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (s->fd < 0) { snprintf(err, errlen, "AF_XDP socket: %s", strerror(errno)); return -1; }
  uint32_t frames = RX_FRAMES + (tx ? TX_FRAMES : 0);
  s->umem_len = (size_t)frames * FRAME;
  s->umem = mmap(NULL, s->umem_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (s->umem == MAP_FAILED) { s->umem = NULL; snprintf(err, errlen, "umem: %s", strerror(errno)); return -1; }
  struct xdp_umem_reg mr = { .addr = (uint64_t)(uintptr_t)s->umem, .len = s->umem_len, .chunk_size = FRAME, .headroom = 0 };
  int rxn = RX_FRAMES, txn = TX_FRAMES;
  if (setsockopt(s->fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof mr) ||
      setsockopt(s->fd, SOL_XDP, XDP_UMEM_FILL_RING, &rxn, sizeof rxn) ||
      setsockopt(s->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, tx ? &txn : &rxn, sizeof txn) ||
      setsockopt(s->fd, SOL_XDP, XDP_RX_RING, &rxn, sizeof rxn) ||
      (tx && setsockopt(s->fd, SOL_XDP, XDP_TX_RING, &txn, sizeof txn))) {
    snprintf(err, errlen, "AF_XDP rings: %s", strerror(errno)); return -1;
  }
  struct xdp_mmap_offsets off;
  socklen_t ol = sizeof off;
  if (getsockopt(s->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &ol) ||
      ring_map(s->fd, &s->rx, &off.rx, RX_FRAMES, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING) ||
      ring_map(s->fd, &s->fill, &off.fr, RX_FRAMES, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING) ||
      ring_map(s->fd, &s->comp, &off.cr, tx ? TX_FRAMES : RX_FRAMES, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING) ||
      (tx && ring_map(s->fd, &s->tx, &off.tx, TX_FRAMES, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING))) {
    snprintf(err, errlen, "AF_XDP ring mmap: %s", strerror(errno)); return -1;
  }
  // Every receive frame starts out with the kernel; transmit frames start free.
  uint64_t *fr = s->fill.descs;
  for (uint32_t i = 0; i < RX_FRAMES; i++) fr[i] = (uint64_t)i * FRAME;
  __atomic_store_n(s->fill.producer, RX_FRAMES, __ATOMIC_RELEASE);
  if (tx) {
    s->free = malloc(TX_FRAMES * sizeof *s->free);
    for (uint32_t i = 0; i < TX_FRAMES; i++) s->free[s->nfree++] = (uint64_t)(RX_FRAMES + i) * FRAME;
  }
  struct sockaddr_xdp sx = { .sxdp_family = AF_XDP, .sxdp_ifindex = (uint32_t)ifindex, .sxdp_queue_id = (uint32_t)queue };
  // EBUSY: the kernel still holds the queue for a socket closed a moment ago
  // (an engine restarted, a port reopened: the release is deferred to a
  // work queue). Give it up to half a second.
  int rc, tries = 0;
  while ((rc = bind(s->fd, (struct sockaddr *)&sx, sizeof sx)) && errno == EBUSY && tries++ < 50) usleep(10000);
  if (rc) { snprintf(err, errlen, "AF_XDP bind queue %d: %s", queue, strerror(errno)); return -1; }
  return 0;
}

// Receive queues the device has (ethtool channels); 1 when it does not say.
static int rx_queues(int ifindex) {
  struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
  int n = netdev_ethtool(ifindex, &ch) == 0 && ch.rx_count + ch.combined_count > 1 ? (int)(ch.rx_count + ch.combined_count) : 1;
  return n > XPORT_MAX_QUEUES ? XPORT_MAX_QUEUES : n;
}

static int is_veth(int ifindex) {
  struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
  return netdev_ethtool(ifindex, &di) == 0 && !strcmp(di.driver, "veth");
}

struct xport *xport_open(int ifindex, char *err, size_t errlen) {
  if (g_mode == XDP_OFF) { snprintf(err, errlen, "AF_XDP off"); return NULL; }
  struct xport *x = calloc(1, sizeof *x);
  x->prog_fd = x->xsks_fd = x->link_fd = -1;
  for (int i = 0; i < XPORT_MAX_QUEUES; i++) x->q[i].fd = -1;
  x->nq = rx_queues(ifindex);
  x->xsks_fd = map_create(BPF_MAP_TYPE_XSKMAP, 4, 4, XPORT_MAX_QUEUES);
  if (x->xsks_fd < 0) { snprintf(err, errlen, "xskmap: %s", strerror(errno)); goto fail; }
  // The program compares the destination with the device's MAC as it is now;
  // after a change, frames pass to the kernel (raw sockets) until the port
  // is opened again.
  uint8_t mac[6];
  if (netdev_mac(ifindex, mac)) { snprintf(err, errlen, "not an Ethernet device"); goto fail; }
  memcpy(x->mac, mac, 6);
  x->prog_fd = prog_load(x->xsks_fd, mac, err, errlen);
  if (x->prog_fd < 0) goto fail;
  // Native (driver) mode first in auto: it runs before any skb is built. Not
  // on a veth: there a native program turns off GSO on the peer, which would
  // cost every other flow on the link (kernel VXLAN's throughput fell to a
  // third); generic mode leaves the device's offloads alone.
  if (g_mode == XDP_NATIVE || (g_mode == XDP_AUTO && !is_veth(ifindex))) {
    x->link_fd = link_create(x->prog_fd, ifindex, XDP_FLAGS_DRV_MODE);
    x->native = x->link_fd >= 0;
  }
  if (x->link_fd < 0 && g_mode != XDP_NATIVE) x->link_fd = link_create(x->prog_fd, ifindex, XDP_FLAGS_SKB_MODE);
  if (x->link_fd < 0) {
    // EBUSY: another XDP program has the device; it is theirs, not ours to replace.
    snprintf(err, errlen, "attach XDP: %s", strerror(errno)); goto fail;
  }
  for (int q = 0; q < x->nq; q++) {
    if (xsk_open(&x->q[q], ifindex, q, q == 0, err, errlen)) goto fail;
    uint32_t key = (uint32_t)q, fd = (uint32_t)x->q[q].fd;
    if (map_update(x->xsks_fd, &key, &fd)) { snprintf(err, errlen, "xskmap update: %s", strerror(errno)); goto fail; }
  }
  return x;
fail:
  xport_close(x);
  return NULL;
}

void xport_close(struct xport *x) {
  if (!x) return;
  if (x->link_fd >= 0) close(x->link_fd);   // detaches the program
  for (int q = 0; q < XPORT_MAX_QUEUES; q++) if (x->q[q].fd >= 0 || x->q[q].umem) xsk_close(&x->q[q]);
  if (x->prog_fd >= 0) close(x->prog_fd);
  if (x->xsks_fd >= 0) close(x->xsks_fd);
  free(x);
}

// Packets the kernel could not hand to the sockets (ring full, no free
// frame, anything else), summed over the queues: drops the engine never saw.
uint64_t xport_rx_lost(const struct xport *x) {
  uint64_t n = 0;
  for (int q = 0; q < x->nq; q++) {
    struct xdp_statistics st;
    socklen_t l = sizeof st;
    if (getsockopt(x->q[q].fd, SOL_XDP, XDP_STATISTICS, &st, &l) == 0) n += st.rx_dropped + st.rx_ring_full + st.rx_invalid_descs;
  }
  return n;
}

const uint8_t *xport_mac(const struct xport *x) { return x->mac; }
int xport_queues(const struct xport *x) { return x->nq; }
int xport_fd(const struct xport *x, int q) { return x->q[q].fd; }
const char *xport_mode(const struct xport *x) { return x->native ? "native" : "generic"; }
size_t xport_frame_room(void) { return FRAME - XDP_PACKET_HEADROOM; }

int xport_rx_peek(struct xport *x, int queue, struct xframe *out, int max) {
  struct xsk *s = &x->q[queue];
  uint32_t prod = __atomic_load_n(s->rx.producer, __ATOMIC_ACQUIRE), cons = *s->rx.consumer;
  uint32_t n = prod - cons;
  if (n > (uint32_t)max) n = (uint32_t)max;
  const struct xdp_desc *d = s->rx.descs;
  for (uint32_t i = 0; i < n; i++) {
    const struct xdp_desc *e = &d[(cons + i) & s->rx.mask];
    out[i].data = s->umem + e->addr; out[i].len = e->len;
  }
  return (int)n;
}

void xport_rx_release(struct xport *x, int queue, int n) {
  struct xsk *s = &x->q[queue];
  uint32_t cons = *s->rx.consumer, fp = *s->fill.producer;
  const struct xdp_desc *d = s->rx.descs;
  uint64_t *fr = s->fill.descs;
  // The fill ring holds every receive frame, so there is always room.
  for (int i = 0; i < n; i++) fr[(fp + (uint32_t)i) & s->fill.mask] = d[(cons + (uint32_t)i) & s->rx.mask].addr & ~(uint64_t)(FRAME - 1);
  __atomic_store_n(s->fill.producer, fp + (uint32_t)n, __ATOMIC_RELEASE);
  __atomic_store_n(s->rx.consumer, cons + (uint32_t)n, __ATOMIC_RELEASE);
}

static void reclaim(struct xsk *s) {
  uint32_t prod = __atomic_load_n(s->comp.producer, __ATOMIC_ACQUIRE), cons = *s->comp.consumer;
  const uint64_t *c = s->comp.descs;
  for (; cons != prod; cons++) s->free[s->nfree++] = c[cons & s->comp.mask];
  __atomic_store_n(s->comp.consumer, cons, __ATOMIC_RELEASE);
}

uint8_t *xport_tx_frame(struct xport *x) {
  struct xsk *s = &x->q[0];
  if (!s->nfree) reclaim(s);
  if (!s->nfree) { xport_tx_kick(x); reclaim(s); }
  if (!s->nfree) return NULL;
  return s->umem + s->free[--s->nfree];
}

void xport_tx_commit(struct xport *x, uint8_t *frame, uint32_t len) {
  struct xsk *s = &x->q[0];
  // The TX ring holds every transmit frame, so there is always room.
  struct xdp_desc *d = &((struct xdp_desc *)s->tx.descs)[s->tx_local++ & s->tx.mask];
  d->addr = (uint64_t)(frame - s->umem); d->len = len; d->options = 0;
}

// Copy mode sends in the kick's system call, a bounded batch per call: call
// again while the ring has frames left and the kernel makes progress.
int xport_tx_kick(struct xport *x) {
  struct xsk *s = &x->q[0];
  __atomic_store_n(s->tx.producer, s->tx_local, __ATOMIC_RELEASE);
  for (int tries = 0; tries < 256; tries++) {
    uint32_t cons = __atomic_load_n(s->tx.consumer, __ATOMIC_ACQUIRE);
    if (cons == s->tx_local) return 0;
    if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN && errno != EBUSY && errno != ENOBUFS && errno != EINTR)
      return -1;
    reclaim(s);   // a full completion ring stops the kernel
  }
  return -1;
}
