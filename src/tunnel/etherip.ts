// etherip: Ethernet over IP protocol 97 (RFC 3378). Linux has no driver for
// it; its data plane is always visp-engine (userspace.ts), a TAP the engine
// creates. Without a built engine the kind is refused by the capability
// probe; encode is never reached for it.
// Identifier: none. The header is a version nibble and reserved bits, no
// key: the underlay address pair is the identity, so two EtherIP links
// between the same two addresses could not be told apart (the engine
// demultiplexes by the remote address alone).
import { IncompatibleStateError } from '../errors.js';
import type { TunnelDriver } from './driver.js';

export const etherip: TunnelDriver<'etherip'> = {
  kind: 'etherip', layer: 2, family: 0, identifier: 'underlayPair', keys: { first: 0, last: 0 },
  lan: 'mesh', autoRank: 40, proto: 'ENCAPSULATION_ETHERIP', engine: 'etherip', linkKind: undefined, healthProbe: 'frame', module: 'etherip (userspace engine)',
  overhead: (f) => (f === 6 ? 40 : 20) + 2 + 14,
  encode(): Buffer[] {
    throw new IncompatibleStateError('etherip: Linux has no EtherIP driver; it is carried by visp-engine only');
  },
  decode: () => ({ local: '', key: 0 }),
  expected: (s) => ({ local: s.local, key: 0, ...(s.remote ? { remote: s.remote } : {}) }),
};
