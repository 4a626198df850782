// GENI link_type names and visp's encapsulations, both ways. A request's
// link_type picks the encapsulation (no link_type, or "lan": visp picks the
// best kind every member node supports); a manifest names the kind visp
// built, in GENI's words where GENI has one.
import type { Encapsulation } from '../controller/model.js';
import type { TunnelKind } from '../tunnel/types.js';

/** link_type name → encapsulation. */
export const LINK_TYPES: Readonly<Record<string, Encapsulation>> = {
  lan: 'auto',
  'gre-tunnel': 'gre',     // ProtoGENI's layer-3 GRE tunnel: IP over GRE, point to point
  'egre-tunnel': 'gretap', // Ethernet over GRE
  vxlan: 'vxlan',
};

/** The manifest's link_type for a built kind: GENI's name, else visp's own kind name. */
export function linkTypeOf(kind: TunnelKind): string {
  for (const [name, enc] of Object.entries(LINK_TYPES)) if (enc === kind) return name;
  return kind;
}
