// rtnetlink numbers from the kernel UAPI headers (linux/netlink.h,
// rtnetlink.h, if_link.h, if_tunnel.h, neighbour.h, if_addr.h, veth.h).
// Values were read off the headers by a compiled probe, not typed from memory.

export const NETLINK_ROUTE = 0;
/** nftables changes are announced on this protocol's NFNLGRP_NFTABLES group (linux/netfilter/nfnetlink.h). */
export const NETLINK_NETFILTER = 12;
export const NFNLGRP_NFTABLES = 7;

export const NLM_F = {
  REQUEST: 0x1, MULTI: 0x2, ACK: 0x4, ECHO: 0x8, DUMP_INTR: 0x10,
  ROOT: 0x100, MATCH: 0x200, DUMP: 0x300,
  REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400, APPEND: 0x800,
  CAPPED: 0x100, ACK_TLVS: 0x200,
} as const;

export const NLMSG = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;
export const NLMSGERR_ATTR = { MSG: 1, OFFS: 2 } as const;

export const RTM = {
  NEWLINK: 16, DELLINK: 17, GETLINK: 18, SETLINK: 19,
  NEWADDR: 20, DELADDR: 21, GETADDR: 22,
  NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26,
  NEWNEIGH: 28, DELNEIGH: 29, GETNEIGH: 30,
} as const;

/** Multicast groups (bit numbers, 1-based as in RTNLGRP_*). */
export const RTNLGRP = { LINK: 1, NEIGH: 3, TC: 4, IPV4_IFADDR: 5, IPV4_ROUTE: 7, IPV6_IFADDR: 9, IPV6_ROUTE: 11 } as const;

export const AF = { UNSPEC: 0, INET: 2, BRIDGE: 7, INET6: 10 } as const;

export const IFF = { UP: 0x1, BROADCAST: 0x2, LOOPBACK: 0x8, POINTOPOINT: 0x10, RUNNING: 0x40, NOARP: 0x80, LOWER_UP: 0x10000 } as const;

export const IFLA = {
  ADDRESS: 1, BROADCAST: 2, IFNAME: 3, MTU: 4, LINK: 5, MASTER: 10, PROTINFO: 12,
  OPERSTATE: 16, LINKINFO: 18, NET_NS_PID: 19, IFALIAS: 20, STATS64: 23,
  GROUP: 27, NET_NS_FD: 28, EXT_MASK: 29, LINK_NETNSID: 37, TARGET_NETNSID: 46,
  ALT_IFNAME: 53, AF_SPEC: 26,
} as const;

/** Inside IFLA_AF_SPEC → AF_INET6. */
export const IFLA_INET6_ADDR_GEN_MODE = 8;
export const IN6_ADDR_GEN_MODE_NONE = 1;

export const IFLA_INFO = { KIND: 1, DATA: 2, XSTATS: 3, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;

export const IFLA_VXLAN = {
  ID: 1, GROUP: 2, LINK: 3, LOCAL: 4, TTL: 5, TOS: 6, LEARNING: 7, AGEING: 8,
  PORT: 15, GROUP6: 16, LOCAL6: 17, UDP_CSUM: 18, UDP_ZERO_CSUM6_TX: 19,
  UDP_ZERO_CSUM6_RX: 20, DF: 29,
} as const;

export const IFLA_GRE = {
  LINK: 1, IFLAGS: 2, OFLAGS: 3, IKEY: 4, OKEY: 5, LOCAL: 6, REMOTE: 7, TTL: 8,
  TOS: 9, PMTUDISC: 10, ENCAP_LIMIT: 11, FLOWINFO: 12, FLAGS: 13, ENCAP_TYPE: 14,
  IGNORE_DF: 19, FWMARK: 20,
} as const;

/** GRE_KEY as it appears on the wire in IFLA_GRE_[IO]FLAGS (big-endian 0x2000). */
export const GRE_FLAG_KEY_BE = 0x2000;
/** ip6gre: do not insert the tunnel encapsulation limit option (RFC 2473). */
export const IP6_TNL_F_IGN_ENCAP_LIMIT = 0x1;

export const IFLA_BRPORT = { LEARNING: 8, UNICAST_FLOOD: 9, NEIGH_SUPPRESS: 32, ISOLATED: 33 } as const;
export const IFLA_BR = { FORWARD_DELAY: 1, AGEING_TIME: 4, STP_STATE: 5, MCAST_SNOOPING: 23 } as const;
export const VETH_INFO_PEER = 1;

export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, BROADCAST: 4, CACHEINFO: 6, FLAGS: 8 } as const;
export const IFA_F = { NODAD: 0x2, PERMANENT: 0x80 } as const;

export const RTA = { DST: 1, SRC: 2, IIF: 3, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, TABLE: 15 } as const;
export const RT_TABLE = { UNSPEC: 0, MAIN: 254, LOCAL: 255 } as const;
export const RTN = { UNICAST: 1, LOCAL: 2, BLACKHOLE: 6 } as const;
export const RTPROT = { KERNEL: 2, BOOT: 3, STATIC: 4 } as const;
/** Our own routing protocol id (rtm_protocol), so we can tell our routes apart. */
export const RTPROT_VISP = 201;
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253, HOST: 254, NOWHERE: 255 } as const;

export const NDA = { DST: 1, LLADDR: 2, VLAN: 5, PORT: 6, VNI: 7, IFINDEX: 8, MASTER: 9 } as const;
export const NTF = { SELF: 0x2, MASTER: 0x4 } as const;
export const NUD = { REACHABLE: 0x2, NOARP: 0x40, PERMANENT: 0x80 } as const;

export const RTEXT_FILTER = { VF: 1, SKIP_STATS: 8 } as const;

export const IFNAMSIZ = 16; // including the trailing NUL: names are at most 15 bytes

/** errno numbers → names, for the errors the kernel returns to rtnetlink. */
export const ERRNO: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 6: 'ENXIO', 7: 'E2BIG',
  9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST',
  19: 'ENODEV', 22: 'EINVAL', 24: 'EMFILE', 28: 'ENOSPC', 34: 'ERANGE', 61: 'ENODATA',
  75: 'EOVERFLOW', 90: 'EMSGSIZE', 93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL', 100: 'ENETDOWN',
  101: 'ENETUNREACH', 105: 'ENOBUFS', 107: 'ENOTCONN', 110: 'ETIMEDOUT', 113: 'EHOSTUNREACH',
};
export const errnoName = (n: number): string => ERRNO[n] ?? `errno ${n}`;

// ---- FIB rules (linux/fib_rules.h; values read off the header by a compiled probe) ----
export const RTM_RULE = { NEWRULE: 32, DELRULE: 33, GETRULE: 34 } as const;
export const FRA = { DST: 1, SRC: 2, IIFNAME: 3, GOTO: 4, PRIORITY: 6, FWMARK: 10, TABLE: 15, FWMASK: 16, OIFNAME: 17, L3MDEV: 19, PROTOCOL: 21, IP_PROTO: 22 } as const;
export const FR_ACT = { TO_TBL: 1, GOTO: 2, NOP: 3, BLACKHOLE: 6, UNREACHABLE: 7, PROHIBIT: 8 } as const;
export const FIB_RULE_INVERT = 0x2;
/** sizeof(struct fib_rule_hdr): family, dst_len, src_len, tos, table, res1, res2, action (u8 each), flags (u32). */
export const FIB_RULE_HDRLEN = 12;
