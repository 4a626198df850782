// Table-driven checks of native/engine/offload.c (test only; built and run by
// offload.test.ts). Prints one line per case: "ok NAME" or "FAIL NAME: why".
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offload.h"

static int failures;
#define CHECK(name, cond, ...) do { if (cond) printf("ok %s\n", name); else { failures++; printf("FAIL %s: ", name); printf(__VA_ARGS__); printf("\n"); } } while (0)

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

// RFC 1071 the slow way: big-endian 16-bit words.
static uint16_t ref_sum(const uint8_t *p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)p[n - 1] << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}
static uint16_t host_to_net_sum(uint16_t h) { uint8_t b[2]; memcpy(b, &h, 2); return (uint16_t)(b[0] << 8 | b[1]); }

// Is the TCP checksum of this IP packet right? (ip: IPv4 or IPv6 header, no options/extensions)
static int tcp_ok(const uint8_t *ip) {
  int v6 = ip[0] >> 4 == 6;
  size_t l4 = v6 ? 40 : (size_t)(ip[0] & 15) * 4, len = v6 ? 40 + get16(ip + 4) : get16(ip + 2);
  uint64_t s = csum_pseudo(ip, v6, 6, (uint32_t)(len - l4));
  return csum_fold(csum_add(s, ip + l4, len - l4)) == 0xffff;
}

// A TSO frame as the kernel hands it over: [eth][IPv4|IPv6][TCP + 12 bytes of timestamp option][payload].
static size_t tso_frame(uint8_t *f, int l2, int v6, size_t payload, uint8_t flags) {
  size_t o = 0;
  if (l2) { memset(f, 0, 14); f[0] = 0x02; f[6] = 0x02; f[5] = 1; f[11] = 2; put16(f + 12, v6 ? 0x86dd : 0x0800); o = 14; }
  uint8_t *ip = f + o, *tcp;
  size_t thl = 32;
  if (v6) {
    memset(ip, 0, 40); ip[0] = 0x60; put16(ip + 4, (uint16_t)(thl + payload)); ip[6] = 6; ip[7] = 64;
    inet_pton(AF_INET6, "2001:db8:3::1", ip + 8); inet_pton(AF_INET6, "2001:db8:3::2", ip + 24);
    tcp = ip + 40;
  } else {
    memset(ip, 0, 20); ip[0] = 0x45; put16(ip + 2, (uint16_t)(20 + thl + payload)); put16(ip + 4, 1000); ip[6] = 0x40; ip[8] = 64; ip[9] = 6;
    inet_pton(AF_INET, "192.0.2.1", ip + 12); inet_pton(AF_INET, "192.0.2.2", ip + 16);
    uint16_t ic = (uint16_t)~csum_fold(csum_add(0, ip, 20)); memcpy(ip + 10, &ic, 2);
    tcp = ip + 20;
  }
  memset(tcp, 0, thl);
  put16(tcp, 40000); put16(tcp + 2, 5201); put32(tcp + 4, 0xfffff000u); put32(tcp + 8, 77);
  tcp[12] = (uint8_t)(thl / 4) << 4; tcp[13] = flags; put16(tcp + 14, 512);
  tcp[20] = 1; tcp[21] = 1; tcp[22] = 8; tcp[23] = 10; put32(tcp + 24, 123456); put32(tcp + 28, 654321);   // NOP NOP timestamps
  for (size_t i = 0; i < payload; i++) tcp[thl + i] = (uint8_t)(i * 31 + 7);
  // The stack leaves the pseudo-header sum in the checksum field (partial).
  uint16_t c = csum_fold(csum_pseudo(ip, v6, 6, (uint32_t)(thl + payload)));
  memcpy(tcp + 16, &c, 2);
  return (size_t)(tcp - f) + thl + payload;
}

static void check_csum(void) {
  static uint8_t b[4000];
  srand(7);
  int bad = 0;
  for (int it = 0; it < 5000 && !bad; it++) {
    size_t n = (size_t)rand() % 3000, off = (size_t)rand() % 8;
    int fill = rand() % 3;
    for (size_t i = 0; i < n + 8; i++) b[i] = fill == 0 ? 0xff : fill == 1 ? (uint8_t)rand() : (uint8_t)(0xfe | (rand() & 1));
    uint16_t h = host_to_net_sum(csum_fold(csum_add(0, b + off, n))), r = ref_sum(b + off, n);
    if (h != r && !((h == 0xffff && r == 0) || (h == 0 && r == 0xffff))) bad = 1;
  }
  CHECK("csum_add equals RFC 1071 over random lengths, offsets and all-ones data", !bad, "mismatch");
}

// merge: whether the segments may be merged again (not with CWR or FIN, as in the kernel's GRO).
static void check_split(const char *name, int l2, int v6, size_t payload, size_t mss, uint8_t flags, int merge) {
  static uint8_t f[70000], hdrs[64][SEG_HDR_MAX];
  struct seg segs[64];
  size_t len = tso_frame(f, l2, v6, payload, flags);
  size_t l3 = l2 ? 14 : 0, l4 = l3 + (v6 ? 40 : 20);
  struct virtio_net_hdr vh = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4,
                               .hdr_len = (uint16_t)(l4 + 32), .gso_size = (uint16_t)mss, .csum_start = (uint16_t)l4, .csum_offset = 16 };
  size_t l3max = 0;
  int n = gso_split(f, len, &vh, l2, &hdrs[0][0], SEG_HDR_MAX, segs, 64, &l3max);
  int want = (int)((payload + mss - 1) / mss);
  char why[200] = "";
  if (n != want) snprintf(why, sizeof why, "%d segments, want %d", n, want);
  if (!*why && l3max != (l4 - l3) + 32 + (payload < mss ? payload : mss)) snprintf(why, sizeof why, "l3max %zu", l3max);
  static uint8_t pkt[2000];
  for (int i = 0; i < n && !*why; i++) {
    memcpy(pkt, segs[i].hdr, segs[i].hlen); memcpy(pkt + segs[i].hlen, segs[i].payload, segs[i].plen);
    uint8_t *ip = pkt + l3, *tcp = pkt + l4;
    size_t plen = i == n - 1 ? payload - (size_t)i * mss : mss;
    if (segs[i].plen != plen) snprintf(why, sizeof why, "segment %d: %zu bytes", i, segs[i].plen);
    else if (memcmp(segs[i].payload, f + l4 + 32 + (size_t)i * mss, plen)) snprintf(why, sizeof why, "segment %d: payload", i);
    else if (!v6 && (get16(ip + 2) != 20 + 32 + plen || get16(ip + 4) != 1000 + i || ref_sum(ip, 20) != 0xffff)) snprintf(why, sizeof why, "segment %d: IPv4 header", i);
    else if (v6 && get16(ip + 4) != 32 + plen) snprintf(why, sizeof why, "segment %d: IPv6 payload length", i);
    else if (get32(tcp + 4) != 0xfffff000u + (uint32_t)(i * mss)) snprintf(why, sizeof why, "segment %d: seq %08x", i, get32(tcp + 4));
    else if (!tcp_ok(ip)) snprintf(why, sizeof why, "segment %d: TCP checksum", i);
    else {
      uint8_t want_fl = flags;
      if (i < n - 1) want_fl &= (uint8_t)~0x09;   // FIN, PSH: last only
      if (i > 0) want_fl &= (uint8_t)~0x80;       // CWR: first only
      if (tcp[13] != want_fl) snprintf(why, sizeof why, "segment %d: flags %02x, want %02x", i, tcp[13], want_fl);
    }
    if (l2 && !*why && memcmp(pkt, f, 14)) snprintf(why, sizeof why, "segment %d: Ethernet header", i);
  }
  CHECK(name, !*why, "%s", why);
  if (!merge) return;

  // ... and merged back: the original frame, with a partial checksum and GSO metadata.
  struct gro_flow g = {0};
  static uint8_t frames[64][2000];
  int merged = 1;
  for (int i = 0; i < n && merged; i++) {
    memcpy(frames[i], segs[i].hdr, segs[i].hlen); memcpy(frames[i] + segs[i].hlen, segs[i].payload, segs[i].plen);
    int a3, a4, thl, av6; size_t pl;
    if (gro_candidate(frames[i], segs[i].hlen + segs[i].plen, l2, &a3, &a4, &thl, &av6, &pl) != 1) { merged = 0; break; }
    if (i == 0) gro_start(&g, NULL, frames[i], a3, a4, thl, av6, pl);
    else if (!gro_same_flow(&g, frames[i], a3, a4, av6) || !gro_append(&g, frames[i], a3, a4, thl, pl)) merged = 0;
  }
  char mname[200]; snprintf(mname, sizeof mname, "%s, merged back", name);
  if (!merged) { CHECK(mname, 0, "a segment was not merged"); return; }
  int iovn = gro_finish(&g);
  static uint8_t out[70000];
  size_t o = 0;
  for (int i = 1; i < iovn; i++) { memcpy(out + o, g.iov[i].iov_base, g.iov[i].iov_len); o += g.iov[i].iov_len; }
  // The merged frame equals the TSO frame (whose flags are those of the last segment).
  *why = 0;
  if (n == 1) {   // a lone segment is written as it came: full checksum instead of the partial one
    if (!tcp_ok(out + l3)) snprintf(why, sizeof why, "lone segment: TCP checksum");
    memcpy(out + l4 + 16, f + l4 + 16, 2);
  }
  if (*why) {}
  else if (o != len) snprintf(why, sizeof why, "%zu bytes, want %zu", o, len);
  else if (memcmp(out, f, len)) {
    size_t d = 0; while (out[d] == f[d]) d++;
    snprintf(why, sizeof why, "differs at byte %zu", d);
  } else if (n > 1 && (g.vh.gso_type != vh.gso_type || g.vh.gso_size != mss || g.vh.csum_start != l4 || g.vh.csum_offset != 16 ||
                       g.vh.flags != VIRTIO_NET_HDR_F_NEEDS_CSUM)) snprintf(why, sizeof why, "virtio header");
  CHECK(mname, !*why, "%s", why);
}

static void check_refusals(void) {
  static uint8_t f[70000], hdrs[64][SEG_HDR_MAX], a[2000], b[2000];
  struct seg segs[64];
  size_t l3max, len = tso_frame(f, 14, 0, 20000, 0x18);
  struct virtio_net_hdr vh = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1000, .csum_start = 34, .csum_offset = 16 };
  CHECK("split: more segments than room is -2", gso_split(f, len, &vh, 14, &hdrs[0][0], SEG_HDR_MAX, segs, 8, &l3max) == -2, "%s", "wrong result");
  struct virtio_net_hdr z = vh; z.gso_size = 0;
  CHECK("split: gso_size 0 is malformed", gso_split(f, len, &z, 14, &hdrs[0][0], SEG_HDR_MAX, segs, 64, &l3max) == -1, "%s", "wrong result");
  z = vh; z.csum_start = 60000;
  CHECK("split: csum_start outside the frame is malformed", gso_split(f, len, &z, 14, &hdrs[0][0], SEG_HDR_MAX, segs, 64, &l3max) == -1, "%s", "wrong result");
  z = vh; z.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
  CHECK("split: TCPv6 GSO over an IPv4 packet is malformed", gso_split(f, len, &z, 14, &hdrs[0][0], SEG_HDR_MAX, segs, 64, &l3max) == -1, "%s", "wrong result");
  z = vh; z.gso_type = VIRTIO_NET_HDR_GSO_UDP;
  CHECK("split: UDP fragmentation offload is refused", gso_split(f, len, &z, 14, &hdrs[0][0], SEG_HDR_MAX, segs, 64, &l3max) == -1, "%s", "wrong result");

  // Two consecutive segments, then one thing changed in the second.
  int n = gso_split(f, len, &vh, 14, &hdrs[0][0], SEG_HDR_MAX, segs, 64, &l3max);
  (void)n;
  struct { const char *name; int off; uint8_t x; int want_cand; } cases[] = {
    { "merge: a sequence gap is not merged", 14 + 20 + 4 + 3, 0x01, 1 },
    { "merge: another ack is not merged", 14 + 20 + 8 + 3, 0x01, 1 },
    { "merge: other timestamps are not merged", 14 + 20 + 24 + 3, 0x01, 1 },
    { "merge: another TTL is not merged", 14 + 8, 0x01, 1 },
    { "merge: a corrupt payload byte makes the segment a non-candidate (checksum)", 14 + 20 + 32 + 5, 0x01, -1 },
    { "merge: SYN is never merged", 14 + 20 + 13, 0x02, -1 },
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    memcpy(a, segs[0].hdr, segs[0].hlen); memcpy(a + segs[0].hlen, segs[0].payload, segs[0].plen);
    memcpy(b, segs[1].hdr, segs[1].hlen); memcpy(b + segs[1].hlen, segs[1].payload, segs[1].plen);
    size_t blen = segs[1].hlen + segs[1].plen;
    b[cases[c].off] ^= cases[c].x;
    if (cases[c].want_cand == 1) {   // keep it a valid segment: fix the checksums after the change
      b[14 + 10] = b[14 + 11] = 0;
      uint16_t ic = (uint16_t)~csum_fold(csum_add(0, b + 14, 20)); memcpy(b + 24, &ic, 2);
      b[14 + 20 + 16] = b[14 + 20 + 17] = 0;
      uint16_t tc = (uint16_t)~csum_fold(csum_add(csum_pseudo(b + 14, 0, 6, (uint32_t)(blen - 34)), b + 34, blen - 34)); memcpy(b + 50, &tc, 2);
    }
    int a3, a4, thl, v6; size_t pl;
    struct gro_flow g = {0};
    gro_candidate(a, segs[0].hlen + segs[0].plen, 14, &a3, &a4, &thl, &v6, &pl);
    gro_start(&g, NULL, a, a3, a4, thl, v6, pl);
    int cand = gro_candidate(b, blen, 14, &a3, &a4, &thl, &v6, &pl);
    int merged = cand == 1 && gro_same_flow(&g, b, a3, a4, v6) && gro_append(&g, b, a3, a4, thl, pl);
    CHECK(cases[c].name, cand == cases[c].want_cand && !merged, "candidate %d, merged %d", cand, merged);
  }
}

// What an underlay NIC's GRO delivers: one big TCP packet, checksum left partial.
static void check_super(void) {
  static uint8_t f[70000];
  for (int v6 = 0; v6 < 2; v6++) {
    size_t len = tso_frame(f, 14, v6, 4000, 0x18);
    int l3, l4, thl, fv6; size_t plen;
    int c = gro_candidate(f, len, 14, &l3, &l4, &thl, &fv6, &plen);
    struct virtio_net_hdr vh;
    int super = c == -1 && gro_super(f, l3, l4, thl, fv6, plen, 1458, &vh);
    char name[100]; snprintf(name, sizeof name, "super-packet (%s): written as GSO with the MTU's segment size", v6 ? "IPv6" : "IPv4");
    size_t iph = v6 ? 40 : 20;
    CHECK(name, super && vh.gso_size == 1458 - iph - 32 && vh.csum_start == 14 + iph && vh.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM &&
          vh.gso_type == (v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4), "candidate %d, super %d, gso_size %u", c, super, vh.gso_size);
    snprintf(name, sizeof name, "super-packet (%s): not when it fits the MTU", v6 ? "IPv6" : "IPv4");
    CHECK(name, !gro_super(f, l3, l4, thl, fv6, plen, 9000, &vh), "%s", "taken");
    // A whole (here: wrong) checksum is not a partial one: written as it is, for the stack to drop.
    f[l4 + 16] ^= 0x55;
    snprintf(name, sizeof name, "super-packet (%s): not with a checksum that is neither whole nor partial", v6 ? "IPv6" : "IPv4");
    CHECK(name, !gro_super(f, l3, l4, thl, fv6, plen, 1458, &vh), "%s", "taken");
  }
}

int main(void) {
  check_super();
  check_csum();
  check_split("split: IPv4 TCP on a TAP, 20000 bytes at MSS 1406 (PSH on the last)", 14, 0, 20000, 1406, 0x18, 1);
  check_split("split: IPv6 TCP on a TAP, 64000 bytes at MSS 1386", 14, 1, 64000, 1386, 0x10, 1);
  check_split("split: IPv6 TCP on a TAP, FIN+PSH on the last, CWR on the first", 14, 1, 64000, 1386, 0x99, 0);
  check_split("split: IPv4 TCP on a TUN, odd sizes (10001 at MSS 1000)", 0, 0, 10001, 1000, 0x10, 1);
  check_split("split: IPv6 TCP on a TUN, one short segment", 0, 1, 500, 1400, 0x18, 1);
  check_refusals();
  return failures ? 1 : 0;
}
