// TCP segmentation (transmit) and coalescing (receive) for the engine's
// vnet_hdr devices. See offload.h for what and why.
#include "offload.h"

#include <arpa/inet.h>
#include <string.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_CWR 0x80

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

// ---- checksums ---------------------------------------------------------------
// Summed as host-order words (RFC 1071 §2(B): the one's complement sum does
// not care about byte order as long as the result is stored the same way).
// 64-bit words with the carries added back (end-around carry).
uint64_t csum_add(uint64_t sum, const void *data, size_t len) {
  const uint8_t *p = data;
  unsigned long long s = sum;
  while (len >= 32) {
    unsigned long long w[4], c = 0;
    memcpy(w, p, 32);
    c += __builtin_uaddll_overflow(s, w[0], &s);
    c += __builtin_uaddll_overflow(s, w[1], &s);
    c += __builtin_uaddll_overflow(s, w[2], &s);
    c += __builtin_uaddll_overflow(s, w[3], &s);
    c = __builtin_uaddll_overflow(s, c, &s);   // that carry-in can wrap once more, to s <= 3
    s += c;
    p += 32; len -= 32;
  }
  uint64_t r = (s & 0xffffffff) + (s >> 32);   // < 2^33: room for the tail below
  while (len >= 4) { uint32_t w; memcpy(&w, p, 4); r += w; p += 4; len -= 4; }
  if (len >= 2) { uint16_t w; memcpy(&w, p, 2); r += w; p += 2; len -= 2; }
  if (len) { uint16_t w = 0; memcpy(&w, p, 1); r += w; }   // odd byte, zero-padded in memory order
  return r;
}

uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

uint64_t csum_pseudo(const uint8_t *ip, int v6, uint8_t proto, uint32_t l4len) {
  uint64_t sum = v6 ? csum_add(0, ip + 8, 32) : csum_add(0, ip + 12, 8);
  uint32_t len_be = htonl(l4len);
  sum = csum_add(sum, &len_be, 4);
  return sum + htons(proto);
}

static void ipv4_fix_csum(uint8_t *ip) {
  ip[10] = ip[11] = 0;
  uint16_t c = (uint16_t)~csum_fold(csum_add(0, ip, (size_t)(ip[0] & 0x0f) * 4));
  memcpy(ip + 10, &c, 2);
}

int l3_offset(const uint8_t *f, size_t len, int l2) {
  size_t off = 0;
  if (l2) {
    if (len < 14) return -1;
    off = 12;
    uint16_t type = get16(f + off);
    while (type == 0x8100 || type == 0x88a8) {   // VLAN tags ahead of the IP header
      off += 4;
      if (off + 2 > len) return -1;
      type = get16(f + off);
    }
    if (type != 0x0800 && type != 0x86dd) return -1;
    off += 2;
  }
  if (off >= len) return -1;
  int v = f[off] >> 4;
  return v == 4 || v == 6 ? (int)off : -1;
}

int csum_complete(uint8_t *f, size_t len, const struct virtio_net_hdr *h) {
  size_t start = h->csum_start, at = start + h->csum_offset;
  if (start >= len || at + 2 > len) return -1;
  // The field holds the pseudo-header sum already; sum over it and the rest.
  uint16_t c = (uint16_t)~csum_fold(csum_add(0, f + start, len - start));
  memcpy(f + at, &c, 2);
  return 0;
}

// ---- transmit: segmentation --------------------------------------------------

int gso_split(const uint8_t *f, size_t len, const struct virtio_net_hdr *h, int l2,
              uint8_t *hdrbase, size_t stride, struct seg *out, int max_segs, size_t *l3max) {
  int type = h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
  if (type != VIRTIO_NET_HDR_GSO_TCPV4 && type != VIRTIO_NET_HDR_GSO_TCPV6) return -1;
  int l3 = l3_offset(f, len, l2);
  if (l3 < 0) return -1;
  int v6 = f[l3] >> 4 == 6;
  if (v6 != (type == VIRTIO_NET_HDR_GSO_TCPV6)) return -1;
  // The TCP header is where the kernel asked for the checksum to start.
  size_t l4 = h->csum_start;
  if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) || l4 < (size_t)l3 + (v6 ? 40 : 20) || l4 + 20 > len) return -1;
  if (!v6 && ((size_t)(f[l3] & 0x0f) * 4 != l4 - (size_t)l3 || f[l3 + 9] != 6)) return -1;
  size_t thl = (size_t)(f[l4 + 12] >> 4) * 4, hl = l4 + thl;
  if (thl < 20 || hl > len || hl > SEG_HDR_MAX) return -1;
  size_t mss = h->gso_size, pay = len - hl;
  if (mss == 0) return -1;
  int n = pay ? (int)((pay + mss - 1) / mss) : 1;
  if (n > max_segs) return -2;
  *l3max = hl - (size_t)l3 + (pay < mss ? pay : mss);
  uint32_t seq = get32(f + l4 + 4);
  uint16_t id = get16(f + l3 + 4);
  for (int i = 0; i < n; i++) {
    uint8_t *hd = hdrbase + (size_t)i * stride;
    size_t off = (size_t)i * mss, plen = i == n - 1 ? pay - off : mss;
    memcpy(hd, f, hl);
    uint8_t *ip = hd + l3, *tcp = hd + l4;
    if (v6) put16(ip + 4, (uint16_t)(hl - (size_t)l3 - 40 + plen));
    else {
      put16(ip + 2, (uint16_t)(hl - (size_t)l3 + plen));
      put16(ip + 4, (uint16_t)(id + i));   // as the kernel's TSO does: one id per segment
      ipv4_fix_csum(ip);
    }
    put32(tcp + 4, seq + (uint32_t)off);
    if (i < n - 1) tcp[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);   // FIN/PSH belong to the last segment
    if (i > 0) tcp[13] &= (uint8_t)~TCP_CWR;                   // CWR to the first only
    tcp[16] = tcp[17] = 0;
    uint64_t sum = csum_pseudo(ip, v6, 6, (uint32_t)(thl + plen));
    sum = csum_add(sum, tcp, thl);
    sum = csum_add(sum, f + hl + off, plen);
    uint16_t c = (uint16_t)~csum_fold(sum);
    memcpy(tcp + 16, &c, 2);
    out[i] = (struct seg){ .hdr = hd, .hlen = hl, .payload = f + hl + off, .plen = plen };
  }
  return n;
}

// ---- receive: coalescing -----------------------------------------------------

int gro_candidate(const uint8_t *f, size_t len, int l2, int *l3p, int *l4p, int *thlp, int *v6p, size_t *plen) {
  size_t l3 = 0;
  if (l2) {
    if (len < 14) return 0;
    uint16_t type = get16(f + 12);
    if (type != 0x0800 && type != 0x86dd) return 0;
    l3 = 14;
  }
  if (len < l3 + 20) return 0;
  size_t l4, tot;
  int v6;
  if (f[l3] == 0x45) {   // IPv4 without options
    v6 = 0;
    tot = get16(f + l3 + 2);
    if (f[l3 + 9] != 6 || tot < 40 || l3 + tot > len) return 0;
    if (get16(f + l3 + 6) & 0x3fff) return 0;                              // a fragment
    if (csum_fold(csum_add(0, f + l3, 20)) != 0xffff) return 0;          // bad header: the stack drops it
    l4 = l3 + 20;
  } else if (f[l3] >> 4 == 6) {
    v6 = 1;
    if (len < l3 + 40 || f[l3 + 6] != 6) return 0;                       // extension headers: not merged
    tot = 40 + (size_t)get16(f + l3 + 4);
    if (l3 + tot > len) return 0;
    l4 = l3 + 40;
  } else return 0;
  if (l4 + 20 > l3 + tot) return 0;
  size_t thl = (size_t)(f[l4 + 12] >> 4) * 4;
  if (thl < 20 || l4 + thl > l3 + tot) return 0;
  *l3p = (int)l3; *l4p = (int)l4; *thlp = (int)thl; *v6p = v6;
  *plen = l3 + tot - l4 - thl;
  uint8_t fl = f[l4 + 13];
  if ((fl & ~(TCP_ACK | TCP_PSH)) || !(fl & TCP_ACK) || *plen == 0) return -1;
  size_t l4len = l3 + tot - l4;
  if (csum_fold(csum_add(csum_pseudo(f + l3, v6, 6, (uint32_t)l4len), f + l4, l4len)) != 0xffff) return -1;
  return 1;
}

// Identity only (addresses, ports): one pending frame per flow, so a segment
// that cannot be merged flushes its flow's frame first and order is kept.
int gro_same_flow(const struct gro_flow *g, const uint8_t *f, int l3, int l4, int v6) {
  const uint8_t *h = g->f;
  if (g->v6 != v6 || g->l3 != l3 || g->l4 != l4) return 0;
  if (v6 ? memcmp(h + l3 + 8, f + l3 + 8, 32) : memcmp(h + l3 + 12, f + l3 + 12, 8)) return 0;
  return memcmp(h + l4, f + l4, 4) == 0;
}

void gro_start(struct gro_flow *g, void *owner, uint8_t *f, int l3, int l4, int thl, int v6, size_t plen) {
  g->used = 1; g->owner = owner; g->f = f;
  g->l3 = l3; g->l4 = l4; g->thl = thl; g->v6 = v6;
  g->mss = (uint16_t)plen; g->nseg = 1; g->total = plen;
  g->next_seq = get32(f + l4 + 4) + (uint32_t)plen;
  g->psh = !!(f[l4 + 13] & TCP_PSH); g->last_short = 0;
  g->iov[2].iov_base = f + l4 + thl; g->iov[2].iov_len = plen;
}

int gro_append(struct gro_flow *g, uint8_t *f, int l3, int l4, int thl, size_t plen) {
  uint8_t *h = g->f;
  if (g->nseg >= GRO_MAX_SEGS || g->psh || g->last_short || plen > g->mss || thl != g->thl) return 0;
  // Everything the merged frame keeps from its first segment must agree.
  if (g->l3 && memcmp(h, f, (size_t)l3)) return 0;                               // MACs, EtherType
  if (g->v6 ? memcmp(h + l3, f + l3, 4) || h[l3 + 7] != f[l3 + 7]                 // class, flow label, hop limit
            : h[l3 + 1] != f[l3 + 1] || h[l3 + 8] != f[l3 + 8] || ((h[l3 + 6] ^ f[l3 + 6]) & 0x40)) return 0;   // TOS, TTL, DF
  if (get32(f + l4 + 4) != g->next_seq) return 0;                                // not the next in sequence
  if (memcmp(h + g->l4 + 8, f + l4 + 8, 5)) return 0;                            // ack, data offset
  if (((h[g->l4 + 13] ^ f[l4 + 13]) & ~TCP_PSH)) return 0;
  if (memcmp(h + g->l4 + 20, f + l4 + 20, (size_t)thl - 20)) return 0;           // options (timestamps) identical
  if ((size_t)(g->l4 - g->l3) + (size_t)thl + g->total + plen > 65535) return 0;
  g->iov[2 + g->nseg].iov_base = f + l4 + thl; g->iov[2 + g->nseg].iov_len = plen;
  g->nseg++; g->total += plen; g->next_seq += (uint32_t)plen;
  if (plen < g->mss) g->last_short = 1;
  if (f[l4 + 13] & TCP_PSH) g->psh = 1;
  memcpy(h + g->l4 + 14, f + l4 + 14, 2);   // the newest receive window
  return 1;
}

int gro_finish(struct gro_flow *g) {
  uint8_t *h = g->f, *ip = h + g->l3, *tcp = h + g->l4;
  memset(&g->vh, 0, sizeof g->vh);
  g->iov[0].iov_base = &g->vh; g->iov[0].iov_len = VNET_HLEN;
  g->iov[1].iov_base = h; g->iov[1].iov_len = (size_t)(g->l4 + g->thl);
  if (g->nseg == 1) return 3;   // as received (minus Ethernet padding)
  size_t l4len = (size_t)g->thl + g->total;
  if (g->v6) put16(ip + 4, (uint16_t)((size_t)(g->l4 - g->l3 - 40) + l4len));
  else { put16(ip + 2, (uint16_t)((size_t)(g->l4 - g->l3) + l4len)); ipv4_fix_csum(ip); }
  if (g->psh) tcp[13] |= TCP_PSH;
  // Partial checksum: the pseudo-header sum over the whole length; the kernel
  // (or whoever segments this again) completes it over the data.
  uint16_t c = csum_fold(csum_pseudo(ip, g->v6, 6, (uint32_t)l4len));
  memcpy(tcp + 16, &c, 2);
  g->vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  g->vh.gso_type = g->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  g->vh.hdr_len = (uint16_t)(g->l4 + g->thl);
  g->vh.gso_size = g->mss;
  g->vh.csum_start = (uint16_t)g->l4;
  g->vh.csum_offset = 16;
  return 2 + g->nseg;
}

int gro_super(const uint8_t *f, int l3, int l4, int thl, int v6, size_t plen, int mtu, struct virtio_net_hdr *vh) {
  size_t iph = (size_t)(l4 - l3), l3len = iph + (size_t)thl + plen;
  if (plen == 0 || l3len <= (size_t)mtu || (size_t)mtu <= iph + (size_t)thl) return 0;
  uint16_t have, want = csum_fold(csum_pseudo(f + l3, v6, 6, (uint32_t)(thl + plen)));
  memcpy(&have, f + l4 + 16, 2);
  if (have != want) return 0;   // a whole checksum (wrong, since it did not verify) or garbage
  memset(vh, 0, sizeof *vh);
  vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh->gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  vh->hdr_len = (uint16_t)(l4 + thl);
  vh->gso_size = (uint16_t)((size_t)mtu - iph - (size_t)thl);   // the NIC's own segment size is lost; the MTU's is right
  vh->csum_start = (uint16_t)l4;
  vh->csum_offset = 16;
  return 1;
}
