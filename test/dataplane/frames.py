#!/usr/bin/python3
# Crafted underlay packets for the engine's AF_XDP fast path tests (test
# only; standard library). Every subcommand prints one JSON line: how many of
# each kind it sent.
#
#   frames.py garbage DST4 DST6 KEY KEY6 N
#       Malformed EtherIP/GRE over raw IP sockets (the kernel writes the outer
#       IP header, from this node's address), N of each kind.
#   frames.py badip IFACE DST_MAC SRC4 DST4 INNER_DST_MAC N
#       Whole Ethernet frames by AF_PACKET: IPv4 + EtherIP carrying a valid
#       frame, once with a wrong IPv4 header checksum and once with a total
#       length beyond the frame, N of each.
#   frames.py otherhost IFACE DST_MAC SRC4 DST4 INNER_DST_MAC N
#       Whole, valid IPv4 + EtherIP frames by AF_PACKET to DST_MAC (meant:
#       not the receiver's MAC, as a flooding switch would deliver them).
#   frames.py slowpath DST4 INNER_DST_MAC INNER_SRC_MAC INNER_SRC INNER_DST N
#       Valid EtherIP packets the XDP program must leave to the kernel
#       (IP_HDRINCL): N with IPv4 options (IHL 6), N fragmented in two; each
#       carries an ICMP echo request.
import json, socket, struct, sys, time

sys.dont_write_bytecode = True   # no __pycache__ beside the scripts in the checkout
from wire import csum, mac


def echo_frame(dmac, smac, sip, dip, seq, size=56):
    """An Ethernet frame with an ICMP echo request, checksums right."""
    data = bytes((seq + i) & 0xff for i in range(size))
    icmp = struct.pack('!BBHHH', 8, 0, 0, 0x4711, seq) + data
    icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(icmp), seq, 0x4000, 64, 1, 0,
                     socket.inet_aton(sip), socket.inet_aton(dip))
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return mac(dmac) + mac(smac) + b'\x08\x00' + ip + icmp


def garbage(dst4, dst6, key, key6, n):
    frame = bytes(range(60))   # any 60 bytes: an "Ethernet frame"
    socks = {(4, 47): socket.socket(socket.AF_INET, socket.SOCK_RAW, 47),
             (4, 97): socket.socket(socket.AF_INET, socket.SOCK_RAW, 97),
             (6, 47): socket.socket(socket.AF_INET6, socket.SOCK_RAW, 47),
             (6, 97): socket.socket(socket.AF_INET6, socket.SOCK_RAW, 97)}
    kinds = [
        # name, family, protocol, payload
        ('eipTruncated', 4, 97, b'\x30'),
        ('eipShortFrame', 4, 97, b'\x30\x00' + frame[:10]),
        ('eipBadVersion', 4, 97, b'\x40\x00' + frame),
        ('greTruncated', 4, 47, b'\x20\x00'),
        ('greTruncatedKey', 4, 47, b'\x20\x00\x65\x58\x00'),
        ('greBadVersion', 4, 47, b'\x00\x01\x65\x58' + frame),
        ('greRouting', 4, 47, b'\x40\x00\x65\x58' + frame),
        ('greBadProtocol', 4, 47, b'\x20\x00\x88\xb5' + struct.pack('!I', key) + frame),
        ('greUnknownKey', 4, 47, b'\x20\x00\x65\x58' + struct.pack('!I', key + 1) + frame),
        ('greNoKey', 4, 47, b'\x00\x00\x65\x58' + frame),
        ('eipTruncated6', 6, 97, b'\x30'),
        ('eipBadVersion6', 6, 97, b'\x31\x00' + frame),
        ('greUnknownKey6', 6, 47, b'\x20\x00\x65\x58' + struct.pack('!I', key6 ^ 1) + frame),
    ]
    sent = {}
    for name, fam, proto, payload in kinds:
        dst = (dst4, 0) if fam == 4 else (dst6, 0, 0, 0)
        for _ in range(n):
            socks[(fam, proto)].sendto(payload, dst)
        sent[name] = n
        time.sleep(0.005)
    return sent


def badip(iface, dst_mac, src4, dst4, inner_dmac, n):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    sent = {'badChecksum': 0, 'badLength': 0}
    for i in range(n):
        for kind in sent:
            payload = b'\x30\x00' + echo_frame(inner_dmac, '02:00:00:00:02:01', '192.0.2.2', '192.0.2.1', i)
            tot = 20 + len(payload) + (400 if kind == 'badLength' else 0)
            ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, tot, i + 1, 0x4000, 64, 97, 0,
                             socket.inet_aton(src4), socket.inet_aton(dst4))
            good = csum(ip)
            check = good ^ 0x1234 if kind == 'badChecksum' else good
            ip = ip[:10] + struct.pack('!H', check) + ip[12:]
            s.send(mac(dst_mac) + src_mac + b'\x08\x00' + ip + payload)
            sent[kind] += 1
    return sent


def otherhost(iface, dst_mac, src4, dst4, inner_dmac, n):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    for i in range(n):
        payload = b'\x30\x00' + echo_frame(inner_dmac, '02:00:00:00:02:01', '192.0.2.2', '192.0.2.1', 300 + i)
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), 0x7100 + i, 0x4000, 64, 97, 0,
                         socket.inet_aton(src4), socket.inet_aton(dst4))
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        s.send(mac(dst_mac) + src_mac + b'\x08\x00' + ip + payload)
    return {'otherhost': n}


def slowpath(dst4, dmac, smac, sip, dip, n):
    # IP_HDRINCL: the kernel fills in the total length and checksum (and an
    # id only when it is 0) and otherwise sends the header as written.
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    src = socket.inet_aton(s_src(dst4))
    sent = {'options': 0, 'fragmented': 0}
    for i in range(n):
        payload = b'\x30\x00' + echo_frame(dmac, smac, sip, dip, 100 + i)
        opts = b'\x01\x01\x01\x00'   # NOP, NOP, NOP, end of options list: IHL 6
        ip = struct.pack('!BBHHHBBH4s4s', 0x46, 0, 24 + len(payload), 0x5100 + i, 0x4000, 64, 97, 0,
                         src, socket.inet_aton(dst4)) + opts
        s.sendto(ip + payload, (dst4, 0))
        sent['options'] += 1
    for i in range(n):
        payload = b'\x30\x00' + echo_frame(dmac, smac, sip, dip, 200 + i, 200)
        ident, cut = 0x6100 + i, 96   # the first fragment's payload: a multiple of 8
        for off, more, part in ((0, 1, payload[:cut]), (cut, 0, payload[cut:])):
            ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(part), ident, (more << 13) | (off // 8), 64, 97, 0,
                             src, socket.inet_aton(dst4))
            s.sendto(ip + part, (dst4, 0))
        sent['fragmented'] += 1
    return sent


def s_src(dst4):
    """This node's address towards dst4 (what the kernel would pick)."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect((dst4, 9))
    return u.getsockname()[0]


cmd, args = sys.argv[1], sys.argv[2:]
if cmd == 'garbage':
    out = garbage(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
elif cmd == 'badip':
    out = badip(args[0], args[1], args[2], args[3], args[4], int(args[5]))
elif cmd == 'otherhost':
    out = otherhost(args[0], args[1], args[2], args[3], args[4], int(args[5]))
elif cmd == 'slowpath':
    out = slowpath(args[0], args[1], args[2], args[3], args[4], int(args[5]))
else:
    sys.exit('usage: frames.py garbage|badip|otherhost|slowpath ...')
print(json.dumps(out))
