// etherip: Ethernet over IP protocol 97 (RFC 3378). Linux has no driver for
// it; its data plane is visp's userspace engine (a later piece of work).
// Declared here so the kind exists everywhere (validation, capability
// probe, ListResources) and fails cleanly until the engine is present.
import { IncompatibleStateError } from '../errors.js';
import type { TunnelDriver } from './types.js';

export const etherip: TunnelDriver = {
  kind: 'etherip', linkKind: undefined, module: 'etherip (userspace engine)', layer: 2, family: 0, multipoint: false, maxKey: 0,
  overhead: (f) => (f === 6 ? 40 : 20) + 2 + 14,
  encode(): Buffer[] {
    throw new IncompatibleStateError('etherip: not available on this node: Linux has no EtherIP driver and the userspace engine is not installed');
  },
  decode: () => ({ local: '', key: 0 }),
  expected: (s) => ({ local: s.local, key: 0, ...(s.remote ? { remote: s.remote } : {}) }),
};
