// Interface addresses inside a link's subnet: explicit ones are checked,
// the others take the lowest usable addresses that are left, in interface
// order (so on a point-to-point /31 the first interface gets .0, the second .1).

import { InvalidSpecError } from '../errors.js';
import { unusableReason, usableHosts } from './host-rules.js';
import { formatAddress, formatPrefix, type Prefix } from './prefix.js';
import type { InterfaceRequest } from './request.js';

/** One "address/length" per interface, in order. */
export function assignAddresses(subnet: Prefix, interfaces: readonly InterfaceRequest[], linkField: string): string[] {
  const family = subnet.family;
  const usable = usableHosts(family, subnet.length);
  const taken = new Set<bigint>();
  interfaces.forEach((ifc, j) => {
    const v = ifc.explicit[family];
    if (v === undefined) return;
    const offset = v - subnet.start;
    const why = unusableReason(family, subnet.length, offset);
    if (why) {
      const field = `${linkField}.interfaces[${j}].${family}`;
      throw new InvalidSpecError(`${field}: ${formatAddress(family, v)} is ${why} of ${formatPrefix(subnet)}`, { field });
    }
    taken.add(offset);
  });
  let next = usable.first;
  return interfaces.map((ifc) => {
    const v = ifc.explicit[family];
    if (v !== undefined) return `${formatAddress(family, v)}/${subnet.length}`;
    while (taken.has(next)) next++;
    // Sizing guarantees room for every member; running out is a bug, not bad input.
    if (next > usable.last) throw new Error(`assignAddresses: ${formatPrefix(subnet)} ran out of addresses for ${interfaces.length} interfaces`);
    taken.add(next);
    return `${formatAddress(family, subnet.start + next)}/${subnet.length}`;
  });
}
