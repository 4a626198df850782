// ip6gre: layer-3 GRE over IPv6, without the encapsulation-limit option.
// Link health: not probed. The device itself is the experiment's interface,
// in the experiment's namespace: a probe sent or answered through it would
// appear there, which probes never may (no healthProbe).
import type { TunnelDriver } from './driver.js';
import { decodeGre, encodeGre, expectedGre, GRE_KEYED_HDR } from './gre-family.js';

export const ip6gre: TunnelDriver<'ip6gre'> = {
  kind: 'ip6gre', layer: 3, family: 6, identifier: 'greKey', keys: { first: 0, last: 0xffffffff },
  lan: 'none', proto: 'ENCAPSULATION_IP6GRE', engine: 'gre', linkKind: 'ip6gre', module: 'ip6_gre',
  overhead: () => 40 + GRE_KEYED_HDR,
  encode: (s) => encodeGre(s, true),
  decode: decodeGre,
  expected: expectedGre,
};
