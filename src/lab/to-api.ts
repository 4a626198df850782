// The one place a topology read from a file (the controller's model, see
// src/topology) becomes the API's request shape: enum names, Addressing
// messages, empty strings left out.
import { encapToPb } from '../api/convert.js';
import type { Topology as ApiTopology } from '../api/gen/visp/v1/Topology.js';
import type { AddressClass as ApiAddressClass } from '../api/gen/visp/v1/AddressClass.js';
import type { Addressing, Topology } from '../controller/model.js';

export function toApiTopology(t: Topology): ApiTopology {
  const addressing = (a: Addressing | undefined) =>
    a ? { enabled: true, ...(a.prefixLength !== undefined ? { prefixLength: a.prefixLength } : {}) } : null;
  return {
    nodes: t.nodes.map((n) => ({ id: n.id, node: n.node, ...(n.netns !== undefined ? { netns: n.netns } : {}) })),
    links: t.links.map((l) => ({
      id: l.id,
      members: l.members.map((m) => ({
        node: m.node,
        ...(m.ifname !== undefined ? { ifname: m.ifname } : {}),
        ...(m.ipv4 !== undefined ? { ipv4: m.ipv4 } : {}),
        ...(m.ipv6 !== undefined ? { ipv6: m.ipv6 } : {}),
      })),
      encapsulation: encapToPb(l.encapsulation), // each kind's enum name is its driver's
      addressClass: `ADDRESS_CLASS_${l.addressClass.toUpperCase()}` as ApiAddressClass,
      ...(l.mtu !== undefined ? { mtu: l.mtu } : {}),
      ipv4: addressing(l.ipv4),
      ipv6: addressing(l.ipv6),
      ...(l.egress ? { egress: { node: l.egress.node, routes: l.egress.routes === 'full' ? 'EGRESS_ROUTES_FULL' as const : 'EGRESS_ROUTES_DEFAULT' as const, noDefaultRoute: !l.egress.defaultRoute } } : {}),
    })),
  };
}

/** "OPERATIONAL_STATE_READY" → "ready", "ENCAPSULATION_VXLAN" → "vxlan". */
export function enumWord(value: string | number | undefined | null, prefix: string): string {
  if (value === undefined || value === null) return '';
  const s = String(value);
  return (s.startsWith(prefix) ? s.slice(prefix.length) : s).toLowerCase();
}
