#!/usr/bin/python3
# Sends malformed and unknown tunnel packets at a visp-engine (test only).
# Usage: garbage.py DST_IPV4 KEY SECONDS SPOOF_SRC
# Prints one JSON line: how many of each kind were sent.
import json, os, random, socket, struct, sys, time

dst, key, seconds, spoof = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
frame = bytes(range(60))   # any 60 bytes: an "Ethernet frame"
gre = socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)
eip = socket.socket(socket.AF_INET, socket.SOCK_RAW, 97)
sent = {}

def send(sock, name, payload, n=20):
    for _ in range(n):
        sock.sendto(payload, (dst, 0))
    sent[name] = sent.get(name, 0) + n

send(eip, 'eipTruncated', b'\x30')
send(eip, 'eipBadVersion', b'\x40\x00' + frame)
send(gre, 'greTruncated', b'\x20\x00')
send(gre, 'greTruncatedKey', b'\x20\x00\x65\x58\x00')
send(gre, 'greBadVersion', b'\x00\x01\x65\x58' + frame)
send(gre, 'greRouting', b'\x40\x00\x65\x58' + frame)
send(gre, 'greBadProtocol', b'\x20\x00\x88\xb5' + struct.pack('!I', key) + frame)
# GRE says IPv4 inside (so it goes to the layer-3 gre tunnel with this key), but it is not.
send(gre, 'greNotIpv4', b'\x20\x00\x08\x00' + struct.pack('!I', key) + frame)
send(gre, 'greUnknownKey', b'\x20\x00\x65\x58' + struct.pack('!I', key + 1) + frame)
send(gre, 'greNoKey', b'\x00\x00\x65\x58' + frame)

# A valid EtherIP packet from an address that is no tunnel's remote: IP_HDRINCL
# lets us write the source ourselves.
hdr = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
payload = b'\x30\x00' + frame
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 0, 0, 64, 97, 0,
                 socket.inet_aton(spoof), socket.inet_aton(dst))
for _ in range(20):
    hdr.sendto(ip + payload, (dst, 0))
sent['eipUnknownPeer'] = 20

# Then random bytes of random length to both protocols until time is up.
rnd = random.Random(4711)
end = time.monotonic() + seconds
flood = 0
while time.monotonic() < end:
    for _ in range(200):
        (gre if rnd.random() < 0.5 else eip).sendto(os.urandom(rnd.randrange(0, 1400)), (dst, 0))
    flood += 200
    time.sleep(0.002)   # a flood, but one the 2-core CI box survives alongside the engine
sent['flood'] = flood
print(json.dumps(sent))
