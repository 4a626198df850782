#!/usr/bin/python3
# Pushes bytes through a TCP connection and hashes both ends (test only): the
# engine cuts and merges TCP segments itself, so the stream must arrive
# byte for byte.
# Usage: bytes.py recv PORT          -> listens, prints "<sha256> <bytes>" at EOF
#        bytes.py send HOST PORT MB  -> sends MB MiB of random data, prints the same
import hashlib, os, socket, sys

mode = sys.argv[1]
h = hashlib.sha256()
n = 0
if mode == 'recv':
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind(('::', int(sys.argv[2])))
    srv.listen(1)
    print('listening', flush=True)
    conn, _ = srv.accept()
    while True:
        b = conn.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
else:
    host, port, mb = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    conn = socket.create_connection((host, port), timeout=30)
    for _ in range(mb):
        b = os.urandom(1 << 20)
        h.update(b)
        conn.sendall(b)
        n += len(b)
    conn.shutdown(socket.SHUT_WR)
    conn.recv(1)   # wait for the receiver to close: everything was read
print(h.hexdigest(), n, flush=True)
