# Helpers the packet-crafting test scripts share (frames.py, super.py; test
# only; standard library): MAC text to bytes and the Internet checksum.
import struct


def mac(m):
    """'02:00:00:00:00:01' -> its 6 bytes."""
    return bytes(int(b, 16) for b in m.split(':'))


def fold(s):
    """A sum of 16-bit words folded into 16 bits (end-around carry)."""
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def sum16(b):
    """The plain sum of b as big-endian 16-bit words (odd length: padded with a zero byte)."""
    if len(b) % 2:
        b += b'\0'
    return sum(struct.unpack('!%dH' % (len(b) // 2), b))


def csum(b):
    """The Internet checksum of b (RFC 1071): the one's complement of the one's-complement sum."""
    return 0xffff - fold(sum16(b))
