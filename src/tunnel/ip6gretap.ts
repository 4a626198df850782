// ip6gretap: Ethernet over GRE over IPv6, bridged.
import type { TunnelDriver } from './driver.js';
import { decodeGre, encodeGre, expectedGre, GRE_KEYED_HDR } from './gre-family.js';

export const ip6gretap: TunnelDriver<'ip6gretap'> = {
  kind: 'ip6gretap', layer: 2, family: 6, identifier: 'greKey', keys: { first: 0, last: 0xffffffff },
  lan: 'mesh', autoRank: 30, proto: 'ENCAPSULATION_IP6GRETAP', engine: 'gretap', linkKind: 'ip6gretap', healthProbe: 'frame', module: 'ip6_gre',
  overhead: () => 40 + GRE_KEYED_HDR + 14,
  encode: (s) => encodeGre(s, true),
  decode: decodeGre,
  expected: expectedGre,
};
