// gre: layer-3 GRE over IPv4 (RFC 2784/2890). The device itself moves into
// the experiment's namespace; it carries IP, no Ethernet header.
// Link health: not probed. The device itself is the experiment's interface,
// in the experiment's namespace: a probe sent or answered through it would
// appear there, which probes never may (no healthProbe).
import type { TunnelDriver } from './driver.js';
import { decodeGre, encodeGre, expectedGre, GRE_KEYED_HDR } from './gre-family.js';

export const gre: TunnelDriver<'gre'> = {
  kind: 'gre', layer: 3, family: 4, identifier: 'greKey', keys: { first: 0, last: 0xffffffff },
  lan: 'none', proto: 'ENCAPSULATION_GRE', engine: 'gre', linkKind: 'gre', module: 'ip_gre',
  overhead: () => 20 + GRE_KEYED_HDR,
  encode: (s) => encodeGre(s, false),
  decode: decodeGre,
  expected: expectedGre,
};
