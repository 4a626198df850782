// Named network namespaces made and removed in-process, as `ip netns add`
// and `ip netns del` do, without spawning `ip`.
//
// Why: a lab's agent host makes thousands of namespaces and holds hundreds of
// megabytes; each `ip` run forks that process (page tables copied, then
// thrown away by exec), which costs far more than the namespace itself.
//
// What `ip netns add NAME` does, and so what this does (same order, same
// modes, same error handling; src/endpoint/census.ts relies on the order):
//  1. mkdir /run/netns (0755; there already is fine);
//  2. under an exclusive flock of that directory (cross-process: other `ip`
//     runs take the same lock; proceed without it if flock fails), make it a
//     shared mount, recursively; if that fails with EINVAL it is not a mount
//     point yet: bind-mount it on itself (recursive), make that private
//     (recursive), so the next "make shared" puts it in a peer group of its
//     own, and try once more;
//  3. create /run/netns/NAME with O_RDONLY|O_CREAT|O_EXCL, mode 0 (the name
//     is taken exclusively: EEXIST here is reported apart, as "exists");
//  4. unshare(CLONE_NEWNET) and bind-mount this thread's namespace file on
//     the name (from here the name is the namespace);
//  5. on a failure after 3: detach-unmount and unlink the name again.
// Optionally (loopbackUp), between 4's unshare and its bind mount, the new
// namespace's lo is set up, so no one ever sees it with lo down.
//
// Where it runs: each request gets a dedicated, short-lived pthread, not one
// of libuv's pool threads. unshare() moves only the calling thread into the
// new namespace. A pool thread would have to setns() back to the original one
// afterwards, and if that failed the only safe answer is abort(): a pool
// thread left in an experiment's namespace would open every later socket of
// the process there. A thread of our own simply ends after the bind mount:
// nothing to restore, no way to leak the namespace into other work, and pool
// threads stay free for netlink sends (nlsock.c) while the kernel sets up a
// namespace (a few milliseconds, partly under global locks). The thread
// tells the event loop through a uv_async handle and the promise is settled
// there. Deletion (`ip netns del`: umount2 MNT_DETACH, then unlink) runs on
// such a thread too: unmounting can wait on the mount lock.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "netns.h"

#define NETNS_DIR "/run/netns"
#define THREAD_STACK (256 * 1024)

enum { OP_CREATE, OP_DELETE };

typedef struct {
  int op;
  int loopback_up;
  char name[NAME_MAX + 1];
  char path[sizeof NETNS_DIR + NAME_MAX + 1];
  int err;               // errno of the failed step, 0 on success
  const char *step;      // which step failed (for the message and .step)
  pthread_t thread;
  int started;           // the thread exists (to be joined)
  uv_async_t done;
  napi_env env;
  napi_deferred deferred;
  napi_async_context async;
  napi_ref resource;
} nsreq_t;

static int fail(nsreq_t *r, const char *step, int err) {
  r->step = step;
  r->err = err;
  return -1;
}

// Step 1 and 2: /run/netns exists and is a shared mount point.
static int prepare_dir(nsreq_t *r) {
  if (mkdir(NETNS_DIR, S_IRWXU | S_IRGRP | S_IXGRP | S_IROTH | S_IXOTH) < 0 && errno != EEXIST)
    return fail(r, "mkdir " NETNS_DIR, errno);
  int lock = open(NETNS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock < 0) return fail(r, "open " NETNS_DIR, errno);
  // Two "make shared" setups racing could stack bind mounts on each other
  // (iproute2 documents a lock-up at boot): the lock keeps it to one at a time.
  int rc;
  do rc = flock(lock, LOCK_EX); while (rc < 0 && errno == EINTR);
  if (rc < 0) { close(lock); lock = -1; }
  int made = 0, res = 0;
  while (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
    if (errno != EINVAL || made) { res = fail(r, "make " NETNS_DIR " shared", errno); break; }
    if (mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0) {
      res = fail(r, "bind " NETNS_DIR " on itself", errno); break;
    }
    if (mount("", NETNS_DIR, "none", MS_PRIVATE | MS_REC, NULL) < 0) {
      res = fail(r, "make " NETNS_DIR " private", errno); break;
    }
    made = 1;
  }
  if (lock >= 0) { flock(lock, LOCK_UN); close(lock); }
  return res;
}

static int loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int err = 0;
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) err = errno;
  else {
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) err = errno;
  }
  close(s);
  return err;
}

static void remove_name(const char *path) {
  umount2(path, MNT_DETACH);   // fails harmlessly when nothing is mounted there
  unlink(path);
}

static void create_ns(nsreq_t *r) {
  if (prepare_dir(r) < 0) return;
  int fd = open(r->path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) { fail(r, "create", errno); return; }
  close(fd);
  // From here this thread is in the new namespace until it ends.
  if (unshare(CLONE_NEWNET) < 0) { fail(r, "unshare", errno); unlink(r->path); return; }
  if (r->loopback_up) {
    int e = loopback_up();
    if (e) { fail(r, "loopback up", e); unlink(r->path); return; }
  }
  // /proc/self is the thread group's leader, not this thread: name this task.
  char own[64];
  snprintf(own, sizeof own, "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
  if (mount(own, r->path, "none", MS_BIND, NULL) < 0) {
    fail(r, "bind", errno);
    remove_name(r->path);
  }
}

static void delete_ns(nsreq_t *r) {
  umount2(r->path, MNT_DETACH);
  if (unlink(r->path) < 0) fail(r, "remove", errno);
}

static void *run(void *arg) {
  nsreq_t *r = arg;
  if (r->op == OP_CREATE) create_ns(r);
  else delete_ns(r);
  uv_async_send(&r->done);   // the last touch of r on this thread
  return NULL;
}

static void free_req(uv_handle_t *h) {
  free(h->data);
}

static void on_done(uv_async_t *h) {
  nsreq_t *r = h->data;
  if (r->started) pthread_join(r->thread, NULL);   // it has finished, or is returning right now
  napi_env env = r->env;
  napi_handle_scope hs;
  napi_open_handle_scope(env, &hs);
  napi_value resource;
  napi_get_reference_value(env, r->resource, &resource);
  // A callback scope, so the promise's reactions run now (as after any
  // JavaScript callback), not at some later unrelated entry into JavaScript.
  napi_callback_scope cs;
  napi_open_callback_scope(env, resource, r->async, &cs);
  if (r->err == 0) {
    napi_value t;
    napi_get_boolean(env, true, &t);
    napi_resolve_deferred(env, r->deferred, t);
  } else {
    char msg[512];
    snprintf(msg, sizeof msg, "%s %s: %s", r->step, r->path, strerror(r->err));
    napi_value code, message, error, errnum, step;
    napi_create_string_utf8(env, uv_err_name(-r->err), NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    napi_create_int32(env, r->err, &errnum);
    napi_set_named_property(env, error, "errno", errnum);
    napi_create_string_utf8(env, r->step, NAPI_AUTO_LENGTH, &step);
    napi_set_named_property(env, error, "step", step);
    napi_reject_deferred(env, r->deferred, error);
  }
  napi_close_callback_scope(env, cs);
  napi_async_destroy(env, r->async);
  napi_delete_reference(env, r->resource);
  napi_close_handle_scope(env, hs);
  uv_close((uv_handle_t *)&r->done, free_req);
}

// iproute2's test of a name: a single path component that is not . or ..
static int invalid_name(const char *s, size_t len) {
  return len == 0 || len > NAME_MAX || strlen(s) != len || strchr(s, '/') ||
         !strcmp(s, ".") || !strcmp(s, "..");
}

static napi_value start(napi_env env, napi_callback_info info, int op) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[NAME_MAX + 2];
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "namespace name (string) expected");
    return NULL;
  }
  if (invalid_name(name, len)) return throw_errno(env, "invalid namespace name", EINVAL);
  nsreq_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "netns request", ENOMEM);
  r->op = op;
  memcpy(r->name, name, len + 1);
  snprintf(r->path, sizeof r->path, "%s/%s", NETNS_DIR, r->name);
  if (op == OP_CREATE && argc > 1) {
    bool up = false;
    napi_get_value_bool(env, argv[1], &up);
    r->loopback_up = up;
  }
  r->env = env;
  napi_value promise, resource, rname;
  napi_create_promise(env, &r->deferred, &promise);
  // As in nlsock.c: a plain object as the async resource, kept alive by us.
  napi_create_object(env, &resource);
  napi_create_reference(env, resource, 1, &r->resource);
  napi_create_string_utf8(env, op == OP_CREATE ? "visp:netns-create" : "visp:netns-delete", NAPI_AUTO_LENGTH, &rname);
  napi_async_init(env, resource, rname, &r->async);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_async_init(loop, &r->done, on_done);   // referenced: the process waits for the answer
  r->done.data = r;

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  // The thread takes no signals: those stay with Node's threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int e = pthread_create(&r->thread, &attr, run, r);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  r->started = e == 0;
  if (e) {
    r->err = e;
    r->step = "start thread";
    // Settle through the same path, on the next loop turn.
    uv_async_send(&r->done);
  }
  return promise;
}

// netnsCreate(name, loopbackUp) -> Promise<true>; rejects with .code (errno name), .errno and .step ("create" + EEXIST: the name is taken).
static napi_value ns_create(napi_env env, napi_callback_info info) { return start(env, info, OP_CREATE); }

// netnsDelete(name) -> Promise<true>; rejects as above (.step "remove" + ENOENT: no such name).
static napi_value ns_delete(napi_env env, napi_callback_info info) { return start(env, info, OP_DELETE); }

void ns_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"netnsCreate", NULL, ns_create, NULL, NULL, NULL, napi_default, NULL},
    {"netnsDelete", NULL, ns_delete, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
