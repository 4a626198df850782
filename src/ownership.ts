// How visp marks what it builds: the interface alias "visp:<slice>/<link>"
// and the slice's link group. A restarted agent finds its objects by the
// alias (adopt, never recreate) and tears a slice down by group; anything
// without the mark is someone else's and is never touched.

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
