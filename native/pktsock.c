// Link health probes: an AF_PACKET socket on one node-side tunnel device.
//
// Why here and not in JavaScript: the round trip is measured with the
// kernel's receive timestamp (SO_TIMESTAMPNS) and a send time taken right
// before sendto, and the far end answers a request inside this receive
// callback, stamping when the request arrived and when the answer left; the
// requester subtracts that turnaround. An event loop busy elsewhere then
// delays answers but does not lengthen the measured RTT (docs/operations.md,
// "Link health").
//
// The socket is bound to one device with ETH_P_ALL, so it sits on the
// device's packet taps, which run before tc ingress and before the bridge's
// rx_handler: a probe arriving over the tunnel is seen here even though the
// bridge then drops it (the node's nft bridge rule, src/health/guard.ts). A
// classic BPF filter keeps only incoming, untagged frames of the probe
// ethertype, so every other frame costs one filter run and no copy; outgoing
// frames are not looped back to us at all (PACKET_IGNORE_OUTGOING).
//
// Frame (after the 14-byte Ethernet header, ethertype 0x88B5, IEEE "local
// experimental"): magic "vHP1", op (1 request, 2 answer), 3 reserved,
// requester[16], target[16] (underlay addresses, IPv4 mapped into IPv6),
// probe id u32, seq u32, t1 (request sent), t2 (request received), t3
// (answer sent): u64 ns, CLOCK_REALTIME, host byte order (each end reads
// only its own clock's values: t1 here, t2 and t3 there, as a difference).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "netns.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

#define PROBE_ETHERTYPE 0x88B5
#define OFF_MAGIC 14
#define OFF_OP 18
#define OFF_REQUESTER 22
#define OFF_TARGET 38
#define OFF_ID 54
#define OFF_SEQ 58
#define OFF_T1 62
#define OFF_T2 70
#define OFF_T3 78
#define FRAME_LEN 86
#define RECV_BATCH 64
// One answer as JavaScript gets it: probe id u32, seq u32, rtt ns i64, when
// it arrived (ns, CLOCK_REALTIME) u64, little endian. The arrival time lets a
// late-running event loop judge an answer by when it came, not when it was read.
#define RECORD_LEN 24

typedef struct {
  int fd;
  int ifindex;
  uint8_t local[16];
  uv_poll_t poll;
  int closing;
  napi_env env;
  napi_ref self_ref;
  napi_ref on_answers;  // (records: Buffer, requestsAnswered: number) => void
  napi_async_context async;
  napi_ref resource;
  uint64_t answered;    // requests this socket answered (a counter for the cost figures)
} pksock_t;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int send_frame(pksock_t *s, uint8_t *frame, size_t len) {
  struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = s->ifindex, .sll_halen = ETH_ALEN };
  memcpy(to.sll_addr, frame, ETH_ALEN);
  ssize_t n;
  do {
    n = sendto(s->fd, frame, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : 0;
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  pksock_t *s = handle->data;
  if (s->closing) return;
  if (status < 0) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    uv_poll_start(&s->poll, UV_READABLE, on_readable);
  }
  uint8_t records[RECV_BATCH * RECORD_LEN];
  uint32_t nrec = 0;
  for (int i = 0; i < RECV_BATCH; i++) {
    uint8_t frame[256];
    char control[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = { .iov_base = frame, .iov_len = sizeof frame };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
    ssize_t len = recvmsg(s->fd, &msg, MSG_DONTWAIT);
    if (len < 0) {
      if (errno == EINTR) { i--; continue; }
      break;  // EAGAIN: drained; anything else: poll tells us again
    }
    if (len < FRAME_LEN || memcmp(frame + OFF_MAGIC, "vHP1", 4) != 0) continue;
    uint64_t rx = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        rx = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
      }
    }
    if (!rx) rx = now_ns();
    uint8_t op = frame[OFF_OP];
    if (op == 1) {
      // A request for this end: answer at once, from the same device.
      if (memcmp(frame + OFF_TARGET, s->local, 16) != 0) continue;
      frame[OFF_OP] = 2;
      memcpy(frame + OFF_T2, &rx, 8);
      uint64_t t3 = now_ns();
      memcpy(frame + OFF_T3, &t3, 8);
      if (send_frame(s, frame, FRAME_LEN) == 0) s->answered++;
    } else if (op == 2) {
      // An answer to one of ours.
      if (memcmp(frame + OFF_REQUESTER, s->local, 16) != 0) continue;
      uint64_t t1, t2, t3;
      memcpy(&t1, frame + OFF_T1, 8);
      memcpy(&t2, frame + OFF_T2, 8);
      memcpy(&t3, frame + OFF_T3, 8);
      int64_t rtt = (int64_t)(rx - t1) - (int64_t)(t3 - t2);
      uint8_t *r = records + nrec * RECORD_LEN;
      memcpy(r, frame + OFF_ID, 4);
      memcpy(r + 4, frame + OFF_SEQ, 4);
      memcpy(r + 8, &rtt, 8);
      memcpy(r + 16, &rx, 8);
      nrec++;
    }
  }
  if (!nrec || s->closing) return;
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  napi_value argv[1], fn, recv, result;
  void *data;
  napi_create_buffer_copy(s->env, nrec * RECORD_LEN, records, &data, &argv[0]);
  napi_get_reference_value(s->env, s->on_answers, &fn);
  napi_get_reference_value(s->env, s->self_ref, &recv);
  if (napi_make_callback(s->env, s->async, recv, fn, 1, argv, &result) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(s->env, &exc);
    napi_fatal_exception(s->env, exc);
  }
  napi_close_handle_scope(s->env, scope);
}

static void on_closed(uv_handle_t *handle) { free(handle->data); }

static pksock_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "not a probe socket handle");
    return NULL;
  }
  pksock_t *s = p;
  if (s->closing) { napi_throw_error(env, "ECLOSED", "probe socket is closed"); return NULL; }
  return s;
}

// Keep incoming, untagged frames of the probe ethertype; drop the rest here, before any copy.
static struct sock_filter probe_filter[] = {
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 4, 0),
  BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),
  BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
  BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROBE_ETHERTYPE, 1, 0),
  BPF_STMT(BPF_RET | BPF_K, 0),
  BPF_STMT(BPF_RET | BPF_K, 256),
};

// pkOpen(netnsPath | null, ifindex, local: Buffer(16), onAnswers) -> handle
static napi_value pk_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) { napi_throw_type_error(env, NULL, "pkOpen: 4 arguments expected"); return NULL; }
  int32_t ifindex = 0;
  napi_get_value_int32(env, argv[1], &ifindex);
  void *local;
  size_t local_len = 0;
  if (napi_get_buffer_info(env, argv[2], &local, &local_len) != napi_ok || local_len != 16) {
    napi_throw_type_error(env, NULL, "pkOpen: local address must be a 16-byte Buffer");
    return NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  int fd, err = 0;
  if (t == napi_string) {
    char path[4096];
    size_t len;
    napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len);
    // Protocol 0: nothing is queued until bind, after the filter is on.
    fd = socket_in_netns(path, AF_PACKET, SOCK_RAW, 0, &err);
    if (fd < 0) return throw_errno(env, "socket AF_PACKET (in netns)", err);
  } else {
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return throw_errno(env, "socket AF_PACKET", errno);
  }
  struct sock_fprog prog = { .len = sizeof probe_filter / sizeof probe_filter[0], .filter = probe_filter };
  int one = 1, rcvbuf = 256 * 1024;
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0) {
    int e = errno; close(fd); return throw_errno(env, "setsockopt", e);
  }
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = ifindex };
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { int e = errno; close(fd); return throw_errno(env, "bind", e); }

  pksock_t *s = calloc(1, sizeof *s);
  s->fd = fd;
  s->ifindex = ifindex;
  memcpy(s->local, local, 16);
  s->env = env;
  napi_value handle, name, resource;
  napi_create_external(env, s, NULL, NULL, &handle);
  napi_create_reference(env, handle, 1, &s->self_ref);
  napi_create_reference(env, argv[3], 1, &s->on_answers);
  napi_create_string_utf8(env, "visp:probe", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &resource);  // see nlsock.c: an external cannot carry async context
  napi_create_reference(env, resource, 1, &s->resource);
  napi_async_init(env, resource, name, &s->async);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  uv_unref((uv_handle_t *)&s->poll);
  return handle;
}

// pkSend(handle, frame) -> 0 or -errno. Stamps t1 just before the send.
static napi_value pk_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pksock_t *s = unwrap(env, argv[0]);
  if (!s) return NULL;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len < FRAME_LEN) {
    napi_throw_type_error(env, NULL, "pkSend: a probe frame expected");
    return NULL;
  }
  uint64_t t1 = now_ns();
  memcpy((uint8_t *)data + OFF_T1, &t1, 8);
  napi_value r;
  napi_create_int32(env, send_frame(s, data, len), &r);
  return r;
}

// pkAnswered(handle) -> requests this socket has answered.
static napi_value pk_answered(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pksock_t *s = unwrap(env, argv[0]);
  if (!s) return NULL;
  napi_value r;
  napi_create_double(env, (double)s->answered, &r);
  return r;
}

static napi_value pk_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  napi_get_value_external(env, argv[0], &p);
  pksock_t *s = p;
  if (!s || s->closing) return NULL;
  s->closing = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  napi_delete_reference(env, s->on_answers);
  napi_async_destroy(env, s->async);
  napi_delete_reference(env, s->resource);
  napi_delete_reference(env, s->self_ref);
  uv_close((uv_handle_t *)&s->poll, on_closed);
  return NULL;
}

void pk_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"pkOpen", NULL, pk_open, NULL, NULL, NULL, napi_default, NULL},
    {"pkSend", NULL, pk_send, NULL, NULL, NULL, napi_default, NULL},
    {"pkAnswered", NULL, pk_answered, NULL, NULL, NULL, napi_default, NULL},
    {"pkClose", NULL, pk_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
