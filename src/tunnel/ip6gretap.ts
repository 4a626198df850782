// ip6gretap: Ethernet over GRE over IPv6, bridged.
import { decodeGre, encodeGre, expectedGre, GRE_KEYED_HDR } from './gre-family.js';
import type { TunnelDriver } from './types.js';

export const ip6gretap: TunnelDriver = {
  kind: 'ip6gretap', linkKind: 'ip6gretap', module: 'ip6_gre', layer: 2, family: 6, multipoint: false, maxKey: 0xffffffff, identifier: 'greKey',
  overhead: () => 40 + GRE_KEYED_HDR + 14,
  encode: (s) => encodeGre(s, true),
  decode: decodeGre,
  expected: expectedGre,
};
