#!/usr/bin/python3
# Sends one gretap packet as an underlay NIC's GRO would deliver it (test
# only): a TCP segment larger than the tunnel MTU whose checksum field holds
# only the pseudo-header sum. The kernel fragments it on the way (the test
# underlay has no GRO), and reassembly hands the engine the same big datagram.
# Usage: super.py DST_IPV4 KEY SRC_MAC DST_MAC SRC_IP DST_IP
import socket, struct, sys

sys.dont_write_bytecode = True   # no __pycache__ beside the scripts in the checkout
from wire import csum, fold, mac, sum16

dst, key, smac, dmac, sip, dip = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]

payload = bytes((i * 7) & 0xff for i in range(3000))
tcp_len = 20 + len(payload)
pseudo = socket.inet_aton(sip) + socket.inet_aton(dip) + struct.pack('!BBH', 0, 6, tcp_len)
partial = fold(sum16(pseudo))   # not inverted: the rest is "still to be computed"
tcp = struct.pack('!HHIIBBHHH', 40000, 9, 1, 1, 5 << 4, 0x10, 512, partial, 0) + payload
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + tcp_len, 0, 0x4000, 64, 6, 0, socket.inet_aton(sip), socket.inet_aton(dip))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
frame = mac(dmac) + mac(smac) + b'\x08\x00' + ip + tcp
gre = struct.pack('!HHI', 0x2000, 0x6558, key) + frame
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
s.setsockopt(socket.IPPROTO_IP, 10, 0)   # IP_MTU_DISCOVER = IP_PMTUDISC_DONT: fragment it
s.sendto(gre, (dst, 0))
print(20 + tcp_len)   # the inner IP length
