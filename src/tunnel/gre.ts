// gre: layer-3 GRE over IPv4 (RFC 2784/2890). The device itself moves into
// the experiment's namespace; it carries IP, no Ethernet header.
import { decodeGre, encodeGre, expectedGre, GRE_KEYED_HDR } from './gre-family.js';
import type { TunnelDriver } from './types.js';

export const gre: TunnelDriver = {
  kind: 'gre', linkKind: 'gre', module: 'ip_gre', layer: 3, family: 4, multipoint: false, maxKey: 0xffffffff, identifier: 'greKey',
  overhead: () => 20 + GRE_KEYED_HDR,
  encode: (s) => encodeGre(s, false),
  decode: decodeGre,
  expected: expectedGre,
};
