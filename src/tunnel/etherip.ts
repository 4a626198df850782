// etherip: Ethernet over IP protocol 97 (RFC 3378). Linux has no driver for
// it; its data plane is always visp-engine (userspace.ts), a TAP the engine
// creates. Without a built engine the kind is refused by the capability
// probe; encode is never reached for it.
import { IncompatibleStateError } from '../errors.js';
import type { TunnelDriver } from './types.js';

export const etherip: TunnelDriver = {
  kind: 'etherip', linkKind: undefined, module: 'etherip (userspace engine)', layer: 2, family: 0, multipoint: false, maxKey: 0,
  overhead: (f) => (f === 6 ? 40 : 20) + 2 + 14,
  encode(): Buffer[] {
    throw new IncompatibleStateError('etherip: Linux has no EtherIP driver; it is carried by visp-engine only');
  },
  decode: () => ({ local: '', key: 0 }),
  expected: (s) => ({ local: s.local, key: 0, ...(s.remote ? { remote: s.remote } : {}) }),
};
