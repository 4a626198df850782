// The links of the VM lane's GRE interop, shared by its host side
// (interop-host.ts: visp's userspace engine, this host has no ip_gre) and its
// guest side (interop-gre.test.ts: the stock Debian kernel's drivers). The
// underlay is the qemu tap: 198.18.9.1 / 2001:db8:9::1 on the host,
// 198.18.9.2 / 2001:db8:9::2 in the guest.
import type { EndpointSpec } from '../../src/endpoint/spec.js';
import type { TunnelKind } from '../../src/tunnel/types.js';

export interface InteropLink { kind: TunnelKind; link: string; key: number; v6: boolean; hostAddr: string; guestAddr: string }

export const INTEROP_LINKS: readonly InteropLink[] = [
  { kind: 'gretap', link: 'gt4', key: 4711, v6: false, hostAddr: '192.0.2.1/30', guestAddr: '192.0.2.2/30' },
  { kind: 'ip6gretap', link: 'gt6', key: 0xfeedbeef, v6: true, hostAddr: '192.0.2.5/30', guestAddr: '192.0.2.6/30' },
  { kind: 'gre', link: 'g4', key: 77, v6: false, hostAddr: '192.0.2.9/30', guestAddr: '192.0.2.10/30' },
  { kind: 'ip6gre', link: 'g6', key: 78, v6: true, hostAddr: '192.0.2.13/30', guestAddr: '192.0.2.14/30' },
];

export const UNDERLAY = { host: { v4: '198.18.9.1', v6: '2001:db8:9::1' }, guest: { v4: '198.18.9.2', v6: '2001:db8:9::2' } } as const;

/** One side's endpoint of an interop link. */
export function interopSpec(l: InteropLink, side: 'host' | 'guest', netns: string): EndpointSpec {
  const [me, peer] = side === 'host' ? [UNDERLAY.host, UNDERLAY.guest] : [UNDERLAY.guest, UNDERLAY.host];
  return {
    slice: 'vmi', link: l.link, group: 9301, kind: l.kind, key: l.key,
    local: l.v6 ? me.v6 : me.v4, remotes: [l.v6 ? peer.v6 : peer.v4],
    netns, ifname: `eth${INTEROP_LINKS.indexOf(l) + 1}`, addresses: [side === 'host' ? l.hostAddr : l.guestAddr],
  };
}
