// Path MTU look-up and "too big" replies (pmtu.h).
#define _GNU_SOURCE
#include "pmtu.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "offload.h"

int path_mtu(int family, const void *remote, const void *local) {
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int mtu = -1;
  socklen_t sl = sizeof mtu;
  if (family == AF_INET) {
    struct sockaddr_in l = { .sin_family = AF_INET }, r = { .sin_family = AF_INET, .sin_port = htons(9) };
    memcpy(&l.sin_addr, local, 4); memcpy(&r.sin_addr, remote, 4);
    // Bound to the tunnel's local: the route (and its source-specific rules) the raw socket's packets take.
    if (bind(fd, (struct sockaddr *)&l, sizeof l) || connect(fd, (struct sockaddr *)&r, sizeof r) ||
        getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &sl)) mtu = -1;
  } else {
    struct sockaddr_in6 l = { .sin6_family = AF_INET6 }, r = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
    memcpy(&l.sin6_addr, local, 16); memcpy(&r.sin6_addr, remote, 16);
    if (bind(fd, (struct sockaddr *)&l, sizeof l) || connect(fd, (struct sockaddr *)&r, sizeof r) ||
        getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &sl)) mtu = -1;
  }
  close(fd);
  return mtu;
}

static int icmp4_error(uint8_t type) { return type == 3 || type == 4 || type == 5 || type == 11 || type == 12; }

static size_t reply4(uint8_t *out, size_t room, const uint8_t *ip, size_t len, int mtu, int min_v4) {
  if (len < 20 || (ip[0] & 0x0f) < 5) return 0;
  size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
  if (len < ihl || !(ip[6] & 0x40) || mtu < min_v4) return 0;        // without DF the sender asked for no answer
  if ((ip[6] & 0x1f) || ip[7]) return 0;                             // a non-first fragment: its first one was answered
  const uint8_t *s = ip + 12, *d = ip + 16;
  if (d[0] >= 224 || !memcmp(d, "\xff\xff\xff\xff", 4)) return 0;   // multicast, reserved, broadcast
  if (s[0] == 0 || s[0] == 127 || s[0] >= 224) return 0;            // no one to answer
  if (ip[9] == 1 && len >= ihl + 1 && icmp4_error(ip[ihl])) return 0; // never an error about an error
  // RFC 1812 4.3.2.3: as much of the packet as fits in 576 bytes.
  size_t quote = len < 576 - 28 ? len : 576 - 28, tot = 28 + quote;
  if (tot > room) return 0;
  uint8_t *o = out;
  o[0] = 0x45; o[1] = 0; o[2] = (uint8_t)(tot >> 8); o[3] = (uint8_t)tot; o[4] = o[5] = 0; o[6] = o[7] = 0;
  o[8] = 64; o[9] = 1; o[10] = o[11] = 0;
  memcpy(o + 12, d, 4); memcpy(o + 16, s, 4);
  uint16_t c = (uint16_t)~csum_fold(csum_add(0, o, 20)); memcpy(o + 10, &c, 2);
  uint8_t *ic = o + 20;
  ic[0] = 3; ic[1] = 4; ic[2] = ic[3] = 0; ic[4] = ic[5] = 0; ic[6] = (uint8_t)(mtu >> 8); ic[7] = (uint8_t)mtu;
  memcpy(ic + 8, ip, quote);
  c = (uint16_t)~csum_fold(csum_add(0, ic, 8 + quote)); memcpy(ic + 2, &c, 2);
  return tot;
}

static size_t reply6(uint8_t *out, size_t room, const uint8_t *ip, size_t len, int mtu) {
  if (len < 40 || mtu < 1280) return 0;                              // RFC 8200: 1280 is every link's minimum
  const uint8_t *s = ip + 8, *d = ip + 24;
  static const uint8_t zero[16], loop[16] = { [15] = 1 };
  if (d[0] == 0xff) return 0;                                        // no source to answer from
  if (s[0] == 0xff || !memcmp(s, zero, 16) || !memcmp(s, loop, 16)) return 0;
  if (ip[6] == 58 && len >= 41 && ip[40] < 128) return 0;            // never an error about an error
  // RFC 4443 2.4(c): as much of the packet as fits in the minimum MTU.
  size_t quote = len < 1280 - 48 ? len : 1280 - 48, plen = 8 + quote;
  if (40 + plen > room) return 0;
  uint8_t *o = out;
  o[0] = 0x60; o[1] = o[2] = o[3] = 0; o[4] = (uint8_t)(plen >> 8); o[5] = (uint8_t)plen; o[6] = 58; o[7] = 64;
  memcpy(o + 8, d, 16); memcpy(o + 24, s, 16);
  uint8_t *ic = o + 40;
  ic[0] = 2; ic[1] = 0; ic[2] = ic[3] = 0;
  uint32_t m = htonl((uint32_t)mtu); memcpy(ic + 4, &m, 4);
  memcpy(ic + 8, ip, quote);
  uint16_t c = (uint16_t)~csum_fold(csum_pseudo(o, 1, 58, (uint32_t)plen) + csum_add(0, ic, plen));
  memcpy(ic + 2, &c, 2);
  return 40 + plen;
}

size_t too_big_reply(uint8_t *out, size_t room, const uint8_t *pkt, size_t len, int l2, int mtu, int min_v4) {
  size_t off = 0;
  int v;
  if (l2) {
    if (len < 14 || (pkt[0] & 1) || room < 14) return 0;            // a multicast/broadcast frame: no one sender to tell
    uint16_t et = (uint16_t)(pkt[12] << 8 | pkt[13]);
    if (et != 0x0800 && et != 0x86dd) return 0;                      // (tagged frames included: left to the drop counter)
    v = et == 0x0800 ? 4 : 6;
    off = 14;
  } else {
    if (len < 1) return 0;
    v = pkt[0] >> 4;
  }
  if ((size_t)(pkt[off] >> 4) != (size_t)v) return 0;
  size_t n = v == 4 ? reply4(out + off, room - off, pkt + off, len - off, mtu, min_v4)
                    : v == 6 ? reply6(out + off, room - off, pkt + off, len - off, mtu) : 0;
  if (!n) return 0;
  if (l2) { memcpy(out, pkt + 6, 6); memcpy(out + 6, pkt, 6); out[12] = pkt[12]; out[13] = pkt[13]; }
  return off + n;
}
