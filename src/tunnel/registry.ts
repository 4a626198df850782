// The tunnel driver registry: a new kind is one file plus one line here (and
// its value in the API's Encapsulation enum; docs/adding-a-tunnel-kind.md).
// The list of kinds, the TunnelKind type and everything derived in kinds.ts
// come from this one object.
import type { TunnelDriver } from './driver.js';
import { etherip } from './etherip.js';
import { gre } from './gre.js';
import { gretap } from './gretap.js';
import { ip6gre } from './ip6gre.js';
import { ip6gretap } from './ip6gretap.js';
import { vxlan } from './vxlan.js';

// In this order kinds are listed (the probe, messages, GetVersion).
const registered = { vxlan, gre, gretap, ip6gre, ip6gretap, etherip };

export type TunnelKind = keyof typeof registered;
/** Every driver under its own kind (the type refuses a driver registered under another kind's name). */
export const drivers: { readonly [K in TunnelKind]: TunnelDriver<K> } = registered;
