// The shapes the tunnel layer hands out. A kind and its facts come from the
// registry (registry.ts, kinds.ts); what a driver is, from driver.ts.
import type { TunnelSettings } from './driver.js';
import type { TunnelKind } from './registry.js';

export type { TunnelKind } from './registry.js';
export { TUNNEL_KINDS } from './kinds.js';
export type { KindDescriptor, TunnelAttrs, TunnelDriver, TunnelSettings } from './driver.js';

/** A fully resolved tunnel device: every field decided before the kernel is touched. */
export interface TunnelSpec extends TunnelSettings {
  kind: TunnelKind;
}

export type Dataplane = 'kernel' | 'userspace';
