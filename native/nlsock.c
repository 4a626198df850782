// visp's AF_NETLINK socket for Node.js.
//
// Why our own: the `netlink` npm package aborts the whole process when its
// receive buffer overflows (ENOBUFS while the event loop is busy). Here an
// overflow is reported to JavaScript as an error event and the socket keeps
// working, so the caller can resync by dumping. It can also open the socket
// inside another network namespace (setns around socket()), which the agent
// needs to configure the experiment's end of a link.
//
// Kept deliberately small: open, send, batched non-blocking receive driven
// by a libuv poll handle, membership, close. All message framing lives in
// TypeScript (src/netlink/).
//
// sendAsync sends on libuv's thread pool: an rtnetlink request is executed
// by the kernel inside sendmsg(), under RTNL, so while another process holds
// RTNL (a neighbour node building a thousand links) a send from the event
// loop would stop it. Sends of one socket stay in order because the caller
// keeps one in flight at a time; close waits for an in-flight send before
// it closes the fd (a reused fd number must never get our datagram).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "netns.h"

void pk_register(napi_env env, napi_value exports);
void ns_register(napi_env env, napi_value exports);

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define RECV_BUF_BYTES (1 << 20)
#define RECV_BATCH 256

typedef struct {
  int fd;
  uint32_t port;
  uv_poll_t poll;
  int poll_active;
  int closing;
  napi_env env;
  napi_ref self_ref;     // keeps the JS wrapper alive while open
  napi_ref on_data;      // (buffers: Buffer[]) => void
  napi_ref on_error;     // (code: string, errno: number) => void
  napi_async_context async;
  napi_ref resource;     // the async context's resource object, alive as long as the context
  char *buf;
  int inflight;          // sendAsync calls not completed yet
  int poll_closed;       // the poll handle is closed: free when inflight reaches 0
} nlsock_t;

// Throws an Error named by the errno (.code = its name, .errno = the number); shared (netns.h).
napi_value throw_errno(napi_env env, const char *op, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", op, strerror(err));
  napi_value code, message, error, errnum;
  napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

// Call a stored JS callback from a libuv callback, surfacing any exception
// it throws as an ordinary uncaught exception instead of aborting.
static void call_js(nlsock_t *s, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value fn, recv, result;
  napi_get_reference_value(env, fn_ref, &fn);
  napi_get_reference_value(env, s->self_ref, &recv);
  napi_status st = napi_make_callback(env, s->async, recv, fn, argc, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

static void report_error(nlsock_t *s, int err) {
  napi_value argv[2];
  napi_create_string_utf8(s->env, uv_err_name(-err), NAPI_AUTO_LENGTH, &argv[0]);
  napi_create_int32(s->env, err, &argv[1]);
  call_js(s, s->on_error, 2, argv);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  nlsock_t *s = handle->data;
  if (s->closing) return;
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  int overflow = 0, other_err = 0;
  if (status < 0) {
    // libuv reports POLLERR as UV_EBADF and stops the handle. On a netlink
    // socket POLLERR means the kernel set sk_err, almost always ENOBUFS
    // (messages dropped). Read and clear it, then resume polling and drain.
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == ENOBUFS || err == 0) overflow = 1;
    else other_err = err;
    uv_poll_start(&s->poll, UV_READABLE, on_readable);
  }
  (void)events;
  napi_value batch;
  napi_create_array(s->env, &batch);
  uint32_t n = 0;
  // Drain in bounded batches so one busy socket cannot starve the loop.
  // drained: the queue was read to empty. Only then has the kernel cleared
  // its "congested" state; drops before that point are silent, so a resync
  // after an overflow must start after a drained read.
  int drained = 0;
  while (n < RECV_BATCH) {
    ssize_t len = recv(s->fd, s->buf, RECV_BUF_BYTES, MSG_DONTWAIT);
    if (len < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) { drained = 1; break; }
      if (errno == ENOBUFS) { overflow = 1; continue; } // kernel dropped messages; keep reading
      if (!other_err) other_err = errno;
      break;
    }
    void *data;
    napi_value b;
    napi_create_buffer_copy(s->env, (size_t)len, s->buf, &data, &b);
    napi_set_element(s->env, batch, n++, b);
  }
  if (overflow) report_error(s, ENOBUFS);
  if (!s->closing && (n > 0 || overflow || drained)) {
    napi_value argv[2];
    argv[0] = batch;
    napi_get_boolean(s->env, drained, &argv[1]);
    call_js(s, s->on_data, 2, argv);
  }
  if (!s->closing && other_err) report_error(s, other_err);
  napi_close_handle_scope(s->env, scope);
}

static void on_poll_closed(uv_handle_t *handle) {
  nlsock_t *s = handle->data;
  s->poll_closed = 1;
  if (s->inflight > 0) return;   // the last send's completion frees it
  close(s->fd);
  free(s->buf);
  free(s);
}

static void do_close(nlsock_t *s) {
  if (s->closing) return;
  s->closing = 1;
  uv_poll_stop(&s->poll);
  napi_delete_reference(s->env, s->on_data);
  napi_delete_reference(s->env, s->on_error);
  napi_async_destroy(s->env, s->async);
  napi_delete_reference(s->env, s->resource);
  napi_delete_reference(s->env, s->self_ref);
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
}

static nlsock_t *unwrap(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "not a netlink socket handle");
    return NULL;
  }
  nlsock_t *s = p;
  if (s->closing) {
    napi_throw_error(env, "ECLOSED", "netlink socket is closed");
    return NULL;
  }
  return s;
}

// Open a socket in the network namespace at `path`, restoring ours after.
int socket_in_netns(const char *path, int domain, int type, int protocol, int *err) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) { *err = errno; return -1; }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) { *err = errno; close(self); return -1; }
  if (setns(target, CLONE_NEWNET) < 0) { *err = errno; close(target); close(self); return -1; }
  int fd = socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
  int sock_err = errno;
  if (setns(self, CLONE_NEWNET) < 0) {
    // Running on in the wrong namespace would misconfigure everything after.
    abort();
  }
  close(target);
  close(self);
  if (fd < 0) *err = sock_err;
  return fd;
}

// open(protocol, groups, netnsPath | null, rcvbufBytes, onData, onError) -> handle
static napi_value nl_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6) { napi_throw_type_error(env, NULL, "open: 6 arguments expected"); return NULL; }
  int32_t protocol = 0, rcvbuf = 0;
  uint32_t groups = 0;
  napi_get_value_int32(env, argv[0], &protocol);
  napi_get_value_uint32(env, argv[1], &groups);
  napi_get_value_int32(env, argv[3], &rcvbuf);
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  int fd, err = 0;
  if (t == napi_string) {
    char path[4096];
    size_t len;
    napi_get_value_string_utf8(env, argv[2], path, sizeof path, &len);
    fd = socket_in_netns(path, AF_NETLINK, SOCK_RAW, protocol, &err);
    if (fd < 0) return throw_errno(env, "socket (in netns)", err);
  } else {
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
    if (fd < 0) return throw_errno(env, "socket", errno);
  }
  if (rcvbuf > 0) {
    // FORCE needs CAP_NET_ADMIN; fall back to the capped variant.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  int one = 1;
  // Extended acks carry the kernel's own error text; capped acks keep each
  // error small (the request is not echoed back), so acks fit the buffer.
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = groups };
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno; close(fd); return throw_errno(env, "bind", e);
  }
  socklen_t sl = sizeof sa;
  getsockname(fd, (struct sockaddr *)&sa, &sl);

  nlsock_t *s = calloc(1, sizeof *s);
  s->buf = malloc(RECV_BUF_BYTES);
  s->fd = fd;
  s->port = sa.nl_pid;
  s->env = env;
  napi_value handle, name, resource;
  napi_create_external(env, s, NULL, NULL, &handle);
  napi_create_reference(env, handle, 1, &s->self_ref);
  napi_create_reference(env, argv[4], 1, &s->on_data);
  napi_create_reference(env, argv[5], 1, &s->on_error);
  napi_create_string_utf8(env, "visp:netlink", NAPI_AUTO_LENGTH, &name);
  // The async resource is a plain object, not the handle: async_hooks (any
  // AsyncLocalStorage in the process) stores its context on the resource as a
  // property, and an external cannot take one (the process aborts with
  // "object is not extensible"). N-API does not keep the resource alive: we do.
  napi_create_object(env, &resource);
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

// send(handle, buffer) -> bytes sent; throws with .code = errno name.
static napi_value nl_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nlsock_t *s = unwrap(env, argv[0]);
  if (!s) return NULL;
  void *data;
  size_t len;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "send: Buffer expected");
    return NULL;
  }
  struct sockaddr_nl to = { .nl_family = AF_NETLINK };
  ssize_t n;
  do {
    n = sendto(s->fd, data, len, 0, (struct sockaddr *)&to, sizeof to);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "sendto", errno);
  napi_value r;
  napi_create_int64(env, n, &r);
  return r;
}

typedef struct {
  nlsock_t *s;
  int fd;
  napi_ref buf_ref;
  napi_ref cb;
  void *data;
  size_t len;
  int err;
  napi_async_work work;
} send_req_t;

static void send_execute(napi_env env, void *d) {
  (void)env;
  send_req_t *r = d;
  struct sockaddr_nl to = { .nl_family = AF_NETLINK };
  ssize_t n;
  do {
    n = sendto(r->fd, r->data, r->len, 0, (struct sockaddr *)&to, sizeof to);
  } while (n < 0 && errno == EINTR);
  r->err = n < 0 ? errno : 0;
}

static void send_complete(napi_env env, napi_status status, void *d) {
  send_req_t *r = d;
  nlsock_t *s = r->s;
  s->inflight--;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, global, argv[2], result;
  int err = status == napi_ok ? r->err : ECANCELED;
  if (err) napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &argv[0]);
  else napi_get_null(env, &argv[0]);
  napi_create_int32(env, err, &argv[1]);
  napi_get_reference_value(env, r->cb, &cb);
  napi_get_global(env, &global);
  napi_delete_reference(env, r->cb);
  napi_delete_reference(env, r->buf_ref);
  napi_delete_async_work(env, r->work);
  free(r);
  if (s->poll_closed && s->inflight == 0) {
    close(s->fd);
    free(s->buf);
    free(s);
  } else if (!s->closing) {
    if (napi_call_function(env, global, cb, 2, argv, &result) == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

// sendAsync(handle, buffer, cb(code | null, errno)): the send on the thread pool.
static napi_value nl_send_async(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nlsock_t *s = unwrap(env, argv[0]);
  if (!s) return NULL;
  send_req_t *r = calloc(1, sizeof *r);
  if (napi_get_buffer_info(env, argv[1], &r->data, &r->len) != napi_ok) {
    free(r);
    napi_throw_type_error(env, NULL, "sendAsync: Buffer expected");
    return NULL;
  }
  r->s = s;
  r->fd = s->fd;
  napi_create_reference(env, argv[1], 1, &r->buf_ref);
  napi_create_reference(env, argv[2], 1, &r->cb);
  napi_value name;
  napi_create_string_utf8(env, "visp:netlink-send", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, send_execute, send_complete, r, &r->work);
  s->inflight++;
  napi_queue_async_work(env, r->work);
  return NULL;
}

static napi_value nl_port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nlsock_t *s = unwrap(env, argv[0]);
  if (!s) return NULL;
  napi_value r;
  napi_create_uint32(env, s->port, &r);
  return r;
}

static napi_value nl_membership(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nlsock_t *s = unwrap(env, argv[0]);
  if (!s) return NULL;
  uint32_t group;
  bool add;
  napi_get_value_uint32(env, argv[1], &group);
  napi_get_value_bool(env, argv[2], &add);
  int opt = add ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP;
  if (setsockopt(s->fd, SOL_NETLINK, opt, &group, sizeof group) < 0)
    return throw_errno(env, "setsockopt membership", errno);
  return NULL;
}

static napi_value nl_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nlsock_t *s = unwrap(env, argv[0]);
  if (!s) return NULL;
  bool ref;
  napi_get_value_bool(env, argv[1], &ref);
  if (ref) uv_ref((uv_handle_t *)&s->poll);
  else uv_unref((uv_handle_t *)&s->poll);
  return NULL;
}

// pending(handle) -> whether a message (or an overflow) is queued and not read
// yet: a change made just before a read is already queued by the kernel, even
// when the event loop has not come round to the socket.
static napi_value nl_pending(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nlsock_t *s = unwrap(env, argv[0]);
  if (!s) return NULL;
  char c;
  ssize_t n;
  do {
    n = recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  napi_value r;
  napi_get_boolean(env, n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK), &r);
  return r;
}

static napi_value nl_rcvbuf(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  nlsock_t *s = unwrap(env, argv[0]);
  if (!s) return NULL;
  int v = 0;
  socklen_t l = sizeof v;
  getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &v, &l);
  napi_value r;
  napi_create_int32(env, v, &r);
  return r;
}

static napi_value nl_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  napi_get_value_external(env, argv[0], &p);
  if (p) do_close(p);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, nl_open, NULL, NULL, NULL, napi_default, NULL},
    {"send", NULL, nl_send, NULL, NULL, NULL, napi_default, NULL},
    {"sendAsync", NULL, nl_send_async, NULL, NULL, NULL, napi_default, NULL},
    {"port", NULL, nl_port, NULL, NULL, NULL, napi_default, NULL},
    {"membership", NULL, nl_membership, NULL, NULL, NULL, napi_default, NULL},
    {"ref", NULL, nl_ref, NULL, NULL, NULL, napi_default, NULL},
    {"rcvbuf", NULL, nl_rcvbuf, NULL, NULL, NULL, napi_default, NULL},
    {"pending", NULL, nl_pending, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, nl_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  pk_register(env, exports);
  ns_register(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
