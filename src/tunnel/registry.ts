// The tunnel driver registry: a new kind is one file plus one line here.
import { etherip } from './etherip.js';
import { gre } from './gre.js';
import { gretap } from './gretap.js';
import { ip6gre } from './ip6gre.js';
import { ip6gretap } from './ip6gretap.js';
import type { TunnelDriver, TunnelKind } from './types.js';
import { vxlan } from './vxlan.js';

export const drivers: Readonly<Record<TunnelKind, TunnelDriver>> = {
  vxlan,
  gre,
  gretap,
  ip6gre,
  ip6gretap,
  etherip,
};
