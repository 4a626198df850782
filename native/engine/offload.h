// TCP segmentation and coalescing for TAP/TUN devices opened with
// IFF_VNET_HDR: the engine's userspace stand-in for the kernel's GSO and GRO.
//
// Transmit: the inner stack hands the TAP one large TCP frame (TSO) plus a
// virtio_net_hdr; gso_split() cuts it into MTU-sized segments, each with its
// own IP/TCP header and checksum, ready to be encapsulated.
// Receive: gro_*() merges consecutive segments of one TCP flow from a
// recvmmsg batch into one large frame written to the device at once, so the
// inner stack runs once per 64 KiB instead of once per 1.4 KiB.
#ifndef VISP_OFFLOAD_H
#define VISP_OFFLOAD_H

#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VNET_HLEN ((int)sizeof(struct virtio_net_hdr))
#define SEG_HDR_MAX 192     // link + IP + TCP headers of one segment, at most

// ---- checksums (RFC 1071), summed in host order ----------------------------
uint64_t csum_add(uint64_t sum, const void *p, size_t len);
uint16_t csum_fold(uint64_t sum);   // folded, not inverted
// Pseudo-header sum for TCP/UDP over IPv4 (ip points at the IPv4 header) or IPv6.
uint64_t csum_pseudo(const uint8_t *ip, int v6, uint8_t proto, uint32_t l4len);

// Where the IP header starts in a frame: after the Ethernet header (and VLAN
// tags) on a TAP, at 0 on a TUN; -1 when it is not IPv4/IPv6.
int l3_offset(const uint8_t *f, size_t len, int l2);

// Finish a checksum the kernel left partial (VIRTIO_NET_HDR_F_NEEDS_CSUM).
// Returns 0, or -1 when csum_start/csum_offset point outside the frame.
int csum_complete(uint8_t *f, size_t len, const struct virtio_net_hdr *h);

// One segment out of gso_split: its own headers (in a buffer of the
// caller's), then its payload, which stays where it is in the big frame.
struct seg { uint8_t *hdr; size_t hlen; const uint8_t *payload; size_t plen; };

// Cut a GSO frame into segments. Segment i's headers are written at
// hdrbase + i * stride (stride >= SEG_HDR_MAX). Returns the number of
// segments; -1 malformed; -2 more than max_segs. *l3max: the largest
// segment from its IP header on (what the device MTU limits).
int gso_split(const uint8_t *f, size_t len, const struct virtio_net_hdr *h, int l2,
              uint8_t *hdrbase, size_t stride, struct seg *out, int max_segs, size_t *l3max);

// ---- receive coalescing ----------------------------------------------------
#define GRO_MAX_SEGS 64

// A frame being built: the first segment's headers (edited in place in its
// receive buffer), then every segment's payload.
struct gro_flow {
  int used;
  void *owner;                  // the tunnel
  uint8_t *f;                   // first frame (headers are rewritten at flush)
  int l3, l4, thl, v6;
  uint32_t next_seq;
  uint16_t mss;                 // payload size of the first segment
  int nseg, psh, last_short;
  size_t total;                 // payload bytes so far
  struct iovec iov[GRO_MAX_SEGS + 2];   // [vnet hdr][headers][payload...]
  struct virtio_net_hdr vh;
};

// Is this frame a TCP segment that may be merged? 1: yes, and l3/l4/thl/v6/
// plen (payload length, from the IP length: Ethernet padding excluded) are
// set; -1: TCP but not mergeable (l3/l4/thl/v6 set, so pending frames of its
// flow can be flushed ahead of it); 0: not TCP over IP. The TCP checksum is
// verified here: a merged frame is handed to the kernel as "checksum still to
// be computed", which the receiving stack trusts, so a corrupt segment must
// be caught now — it is written alone, for the inner stack to drop.
int gro_candidate(const uint8_t *f, size_t len, int l2, int *l3, int *l4, int *thl, int *v6, size_t *plen);
// Same flow (addresses and ports) as a pending frame?
int gro_same_flow(const struct gro_flow *g, const uint8_t *f, int l3, int l4, int v6);
// Append (returns 1) when the segment continues the flow; 0: flush first.
int gro_append(struct gro_flow *g, uint8_t *f, int l3, int l4, int thl, size_t plen);
void gro_start(struct gro_flow *g, void *owner, uint8_t *f, int l3, int l4, int thl, int v6, size_t plen);
// A TCP packet larger than the device MTU whose checksum field holds only
// the pseudo-header sum: what an underlay NIC's GRO makes of GRE segments it
// merged (and verified) before they reached the raw socket. 1: it is one, and
// vh describes it for the device (GSO, segments of MTU size, checksum to be
// completed); l3/l4/thl/v6/plen as gro_candidate set them.
int gro_super(const uint8_t *f, int l3, int l4, int thl, int v6, size_t plen, int mtu, struct virtio_net_hdr *vh);

// Rewrite the first segment's headers for the merged frame; fills g->iov.
// Returns the iovec count.
int gro_finish(struct gro_flow *g);

#endif
