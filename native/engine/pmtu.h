// Path MTU: what the underlay carries toward a tunnel's remote, and the
// answer to an inner packet that does not fit once encapsulated, given the
// way a kernel tunnel gives it (ICMP "fragmentation needed" for IPv4 with DF,
// ICMPv6 "packet too big"), so the sender's PMTU discovery works instead of
// its packets vanishing.
#ifndef VISP_PMTU_H
#define VISP_PMTU_H

#include <stddef.h>
#include <stdint.h>

// The MTU of the kernel's route from local to remote (the device's, or a
// smaller one learnt from ICMP or set on the route), as a socket connected
// there reads it (IP_MTU / IPV6_MTU). -1 when there is no route.
int path_mtu(int family, const void *remote, const void *local);

// The reply to an inner packet too big for `mtu` (the largest inner IP
// packet that fits), to be written back into the device it came from.
// pkt: the frame as read (Ethernet first when l2, IP first otherwise).
// The reply's source is the packet's destination (and on a TAP the MAC
// addresses are swapped), as Linux does for bridged tunnels (VXLAN, GENEVE:
// iptunnel_pmtud_build_icmp): the engine has no address of its own there.
// Returns the reply's length, or 0 when none is due (not IPv4 with DF / not
// IPv6, an ICMP error itself, a multicast or broadcast destination, an
// unusable source, mtu below min_v4 for IPv4 or below 1280 for IPv6) or
// `room` is too small.
size_t too_big_reply(uint8_t *out, size_t room, const uint8_t *pkt, size_t len, int l2, int mtu, int min_v4);

#endif
