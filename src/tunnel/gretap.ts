// gretap: Ethernet over GRE over IPv4 (protocol type 0x6558), bridged.
import { decodeGre, encodeGre, expectedGre, GRE_KEYED_HDR } from './gre-family.js';
import type { TunnelDriver } from './types.js';

export const gretap: TunnelDriver = {
  kind: 'gretap', linkKind: 'gretap', module: 'ip_gre', layer: 2, family: 4, multipoint: false, maxKey: 0xffffffff, identifier: 'greKey',
  overhead: () => 20 + GRE_KEYED_HDR + 14,
  encode: (s) => encodeGre(s, false),
  decode: decodeGre,
  expected: expectedGre,
};
