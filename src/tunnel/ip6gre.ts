// ip6gre: layer-3 GRE over IPv6, without the encapsulation-limit option.
import { decodeGre, encodeGre, expectedGre, GRE_KEYED_HDR } from './gre-family.js';
import type { TunnelDriver } from './types.js';

export const ip6gre: TunnelDriver = {
  kind: 'ip6gre', linkKind: 'ip6gre', module: 'ip6_gre', layer: 3, family: 6, multipoint: false, maxKey: 0xffffffff, identifier: 'greKey',
  overhead: () => 40 + GRE_KEYED_HDR,
  encode: (s) => encodeGre(s, true),
  decode: decodeGre,
  expected: expectedGre,
};
