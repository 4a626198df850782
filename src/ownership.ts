// How visp marks what it builds, on the objects themselves, so a restarted
// agent knows without any state of its own:
// - a link: the interface alias "visp:<slice>/<link>" and the slice's link
//   group. A restarted agent finds its objects by the alias (adopt, never
//   recreate) and tears a slice down by group; anything without the mark is
//   someone else's and is never touched.
// - an experiment namespace: the alias of its loopback,
//   "visp-netns:<slice>/<group>", written when visp creates the namespace.
//   A namespace belongs to the one slice its mark names (the group tells a
//   slice from an earlier one of the same name); visp builds only in a
//   namespace marked as the slice's, deletes only such a namespace, and
//   never touches one without the mark (the node's own, one someone else
//   made). docs/ownership.md has the whole rule.

export interface Mark { slice: string; link: string; group: number }

export const ALIAS_PREFIX = 'visp:';

export const aliasOf = (m: Pick<Mark, 'slice' | 'link'>): string => `${ALIAS_PREFIX}${m.slice}/${m.link}`;

/** The slice/link an alias names, or undefined when it is not ours. */
export function parseAlias(alias: string | undefined): { slice: string; link: string } | undefined {
  if (!alias?.startsWith(ALIAS_PREFIX)) return undefined;
  const rest = alias.slice(ALIAS_PREFIX.length);
  const i = rest.indexOf('/');
  if (i <= 0 || i === rest.length - 1) return undefined;
  return { slice: rest.slice(0, i), link: rest.slice(i + 1) };
}

/** Who an experiment namespace belongs to. */
export interface NetnsOwner { slice: string; group: number }

export const NETNS_MARK_PREFIX = 'visp-netns:';

/** The alias of the loopback in a namespace visp created for `o`. */
export const netnsMarkOf = (o: NetnsOwner): string => `${NETNS_MARK_PREFIX}${o.slice}/${o.group}`;

/** The owner a loopback alias names, or undefined when the namespace carries no visp mark. */
export function parseNetnsMark(alias: string | undefined): NetnsOwner | undefined {
  if (!alias?.startsWith(NETNS_MARK_PREFIX)) return undefined;
  const rest = alias.slice(NETNS_MARK_PREFIX.length);
  const i = rest.lastIndexOf('/');
  const group = Number(rest.slice(i + 1));
  if (i <= 0 || !/^\d+$/.test(rest.slice(i + 1)) || !Number.isSafeInteger(group) || group < 1) return undefined;
  return { slice: rest.slice(0, i), group };
}

export const sameOwner = (a: NetnsOwner, b: NetnsOwner): boolean => a.slice === b.slice && a.group === b.group;
