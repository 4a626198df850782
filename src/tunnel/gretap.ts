// gretap: Ethernet over GRE over IPv4 (protocol type 0x6558), bridged.
import type { TunnelDriver } from './driver.js';
import { decodeGre, encodeGre, expectedGre, GRE_KEYED_HDR } from './gre-family.js';

export const gretap: TunnelDriver<'gretap'> = {
  kind: 'gretap', layer: 2, family: 4, identifier: 'greKey', keys: { first: 0, last: 0xffffffff },
  lan: 'mesh', autoRank: 20, proto: 'ENCAPSULATION_GRETAP', engine: 'gretap', linkKind: 'gretap', healthProbe: 'frame', module: 'ip_gre',
  overhead: () => 20 + GRE_KEYED_HDR + 14,
  encode: (s) => encodeGre(s, false),
  decode: decodeGre,
  expected: expectedGre,
};
