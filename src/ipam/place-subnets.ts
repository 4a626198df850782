// Carving a block into link subnets. Subnets pinned by explicit addresses
// are reserved first, at the place the addresses dictate; the rest are
// allocated largest first, best fit, which packs aligned power-of-two
// subnets without gaps (so a block of the summed size always suffices when
// nothing is pinned).

import { InvalidSpecError } from '../errors.js';
import { BuddySpace } from './buddy.js';
import { alignDown, containsPrefix, formatAddress, formatPrefix, type Family, type Prefix } from './prefix.js';

export interface SubnetNeed {
  /** Caller's handle (e.g. link index), returned with the result. */
  readonly id: number;
  readonly length: number;
  /** Explicit addresses of the link's interfaces in this family. */
  readonly pins: readonly bigint[];
  /** For messages: the spec field of the link's subnet, and the link's name. */
  readonly field: string;
  readonly link: string;
}

export function placeSubnets(block: Prefix, needs: readonly SubnetNeed[]): Map<number, Prefix> {
  const family = block.family;
  const space = new BuddySpace(block);
  const placed = new Map<number, Prefix>();
  const owner: { prefix: Prefix; link: string }[] = [];

  for (const n of needs) {
    if (n.pins.length === 0) continue;
    const prefix = pinnedSubnet(family, n);
    if (!containsPrefix(block, prefix)) {
      throw new InvalidSpecError(
        `${n.field}: explicit address ${formatAddress(family, n.pins[0]!)} is outside the slice's block ${formatPrefix(block)}`,
        { field: n.field },
      );
    }
    if (!space.reserve(prefix.start, prefix.length)) {
      const other = owner.find((o) => containsPrefix(o.prefix, prefix) || containsPrefix(prefix, o.prefix));
      throw new InvalidSpecError(
        `${n.field}: subnet ${formatPrefix(prefix)} for link "${n.link}" (from its explicit addresses) overlaps link "${other?.link}"'s ${other ? formatPrefix(other.prefix) : ''}`,
        { field: n.field },
      );
    }
    owner.push({ prefix, link: n.link });
    placed.set(n.id, prefix);
  }

  const auto = needs.filter((n) => n.pins.length === 0).sort((a, b) => a.length - b.length || a.id - b.id);
  for (const n of auto) {
    const start = space.allocate(n.length);
    if (start === undefined) {
      throw new InvalidSpecError(
        `${n.field}: the slice's block ${formatPrefix(block)} has no room left for link "${n.link}"'s /${n.length}; ask for a larger block`,
        { field: n.field },
      );
    }
    placed.set(n.id, { family, start, length: n.length });
  }
  return placed;
}

// All of a link's explicit addresses must lie in the one subnet they imply.
function pinnedSubnet(family: Family, n: SubnetNeed): Prefix {
  const start = alignDown(family, n.pins[0]!, n.length);
  for (const v of n.pins) {
    if (alignDown(family, v, n.length) !== start) {
      throw new InvalidSpecError(
        `${n.field}: explicit addresses ${formatAddress(family, n.pins[0]!)} and ${formatAddress(family, v)} of link "${n.link}" are not in one /${n.length}`,
        { field: n.field },
      );
    }
  }
  return { family, start, length: n.length };
}
