// The engine's fast underlay: AF_XDP sockets on the underlay device, so
// tunnel packets skip the kernel's IP layer on both sides.
//
// Why: with raw IP sockets, two thirds of the engine's CPU was the kernel's
// per-packet work — route lookup, ip_append_data with a checksum over every
// byte, neighbour output on send; IP receive, a route lookup, a clone per raw
// socket and a socket queue on receive (docs/dataplane.md has the profile).
// An XDP program on the device hands tunnel packets from known remotes
// straight to an AF_XDP socket, and frames the engine builds (Ethernet + IP
// headers included) go straight to the device.
//
// The raw sockets stay: they carry everything the fast path does not
// (fragments, IPv4 options, unknown sources, packets before the next hop's
// MAC is known, devices where XDP cannot attach), so the fast path is only
// ever an optimisation. The XDP program is attached through a BPF link held
// by the engine: it goes away with the engine, leaving nothing behind.
#ifndef VISP_XDP_H
#define VISP_XDP_H

#include <stddef.h>
#include <stdint.h>

enum xdp_mode { XDP_OFF, XDP_AUTO, XDP_NATIVE, XDP_GENERIC };

// Which (remote, local) address pairs the XDP program redirects to the
// engine: every port's program shares one map. Returns -1 with err set when BPF is not
// available (then the engine runs on raw sockets alone).
int xdp_init(enum xdp_mode mode, char *err, size_t errlen);
int xdp_allow(int family, const void *remote, const void *local, int on);

struct xport;
#define XPORT_MAX_QUEUES 4

// Attach to a device: the XDP program plus one AF_XDP socket per receive
// queue (up to XPORT_MAX_QUEUES; queue 0's socket also transmits). auto:
// native mode, or generic on a veth (see xport_open); native/generic: only that.
struct xport *xport_open(int ifindex, char *err, size_t errlen);
void xport_close(struct xport *x);
const uint8_t *xport_mac(const struct xport *x);   // the device MAC its program accepts
uint64_t xport_rx_lost(const struct xport *x);   // dropped by the kernel before the rings
int xport_queues(const struct xport *x);
int xport_fd(const struct xport *x, int queue);
const char *xport_mode(const struct xport *x);   // "native" or "generic"
size_t xport_frame_room(void);                   // largest frame the port can send

// Receive: up to max frames from a queue's ring, as pointers into the UMEM.
// They stay valid until xport_rx_release(), which hands them back to the
// kernel; release exactly what peek returned.
struct xframe { uint8_t *data; uint32_t len; };
int xport_rx_peek(struct xport *x, int queue, struct xframe *out, int max);
void xport_rx_release(struct xport *x, int queue, int n);

// Transmit: a free frame to build into (NULL when every TX frame is in
// flight even after reclaiming completions), then commit its length; kick
// makes the kernel send what was committed.
uint8_t *xport_tx_frame(struct xport *x);
void xport_tx_commit(struct xport *x, uint8_t *frame, uint32_t len);
int xport_tx_kick(struct xport *x);

#endif
