// What the netlink socket (nlsock.c) and the probe socket (pktsock.c) share:
// opening a socket inside another network namespace (setns around socket()),
// and throwing an errno as a JavaScript Error (both defined in nlsock.c).
#pragma once
#include <node_api.h>
napi_value throw_errno(napi_env env, const char *op, int err);
int socket_in_netns(const char *path, int domain, int type, int protocol, int *err);
