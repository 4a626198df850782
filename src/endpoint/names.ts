// Interface names: deterministic from the slice and link ids (so a restarted
// agent finds the same names), short enough for IFNAMSIZ, and unlikely to
// collide: 8 base-32 characters of a SHA-256 are 40 bits.
import { createHash } from 'node:crypto';
import { InvalidSpecError } from '../errors.js';

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

/**
 * The id rule, the one place it is written: slice, router (topology node),
 * physical node, link and namespace ids. The controller's validator, the
 * topology file, the agent's endpoint specs and identity names all use it.
 */
export const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** The rule in words, for messages: `"a b" ${ID_RULE}`. */
export const ID_RULE = 'must be 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit';

export function shortHash(text: string, chars = 8): string {
  const h = createHash('sha256').update(text).digest();
  let out = '';
  let acc = 0, bits = 0, i = 0;
  while (out.length < chars) {
    if (bits < 5) { acc = (acc << 8) | h[i++]!; bits += 8; }
    out += B32[(acc >> (bits - 5)) & 31];
    bits -= 5;
  }
  return out;
}

/**
 * The prefixes of every port visp puts on a link's bridge (the tunnel devices, and
 * the host end of the experiment's veth): rules that must touch visp's bridges
 * only (the probe guard) match on them, never on the node's other bridges.
 */
export const PORT_PREFIXES = { tunnel: 'vt', vethHost: 'vh' } as const;

/** Node-side object names for one link endpoint. */
export interface EndpointNames { bridge: string; vethHost: string; tunnel: (remote?: string) => string }

export function endpointNames(slice: string, link: string): EndpointNames {
  const base = shortHash(`${slice}/${link}`);
  return {
    bridge: `vb${base}`,
    vethHost: `${PORT_PREFIXES.vethHost}${base}`,
    // One tunnel per remote for point-to-point kinds (a LAN mesh), one for VXLAN.
    tunnel: (remote) => `${PORT_PREFIXES.tunnel}${remote === undefined ? base : shortHash(`${slice}/${link}/${remote}`)}`,
  };
}

/** Linux accepts 1–15 bytes, no '/', ':', whitespace; "." and ".." are reserved. */
export function ifnameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (Buffer.byteLength(name) > 15) return `is ${Buffer.byteLength(name)} bytes; interface names hold at most 15`;
  if (name === '.' || name === '..') return 'is reserved';
  if (/[\s/:]/.test(name) || !/^[\x21-\x7e]+$/.test(name)) return 'may only contain printable ASCII without "/", ":" or whitespace';
  return undefined;
}

/**
 * The experiment namespace visp names for router `router` of slice `slice`
 * when the topology names none: "visp-<slice>:<router>". Ids (ID) are letters,
 * digits, ".", "_" and "-", never ":", so the first ":"
 * splits the name back into the two ids and no two (slice, router) pairs
 * share a name — "-" inside ids cannot run them together, as it could in
 * the earlier "visp-<slice>-<router>" (slice a, router x-r1 and slice a-x,
 * router r1 were one namespace). A topology's own netns is an id too, so it
 * never equals a name visp derives. At most 5 + 63 + 1 + 63 = 132 bytes:
 * within NAME_MAX (255) for /run/netns, never truncated.
 */
export function experimentNetns(slice: string, router: string): string {
  for (const [what, id] of [['slice', slice], ['router', router]] as const) {
    if (!ID.test(id)) throw new InvalidSpecError(`${what}: ${JSON.stringify(id)} ${ID_RULE}`, { field: what });
  }
  return `${NETNS_PREFIX}${slice}${NETNS_SEPARATOR}${router}`;
}

/** The slice and router a name from experimentNetns() stands for, or undefined when visp did not derive it. */
export function parseExperimentNetns(name: string): { slice: string; router: string } | undefined {
  if (!name.startsWith(NETNS_PREFIX)) return undefined;
  const rest = name.slice(NETNS_PREFIX.length);
  const i = rest.indexOf(NETNS_SEPARATOR);
  if (i < 0) return undefined;
  const slice = rest.slice(0, i), router = rest.slice(i + 1);
  return ID.test(slice) && ID.test(router) ? { slice, router } : undefined;
}

const NETNS_PREFIX = 'visp-';
const NETNS_SEPARATOR = ':';
