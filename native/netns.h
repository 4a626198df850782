// Opening a socket inside another network namespace (setns around socket()),
// shared by the netlink socket (nlsock.c) and the probe socket (pktsock.c).
#pragma once
int socket_in_netns(const char *path, int domain, int type, int protocol, int *err);
