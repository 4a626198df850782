// Interface names: deterministic from the slice and link ids (so a restarted
// agent finds the same names), short enough for IFNAMSIZ, and unlikely to
// collide: 8 base-32 characters of a SHA-256 are 40 bits.
import { createHash } from 'node:crypto';

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

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

/** Node-side object names for one link endpoint. */
export interface EndpointNames { bridge: string; vethHost: string; tunnel: (remote?: string) => string }

export function endpointNames(slice: string, link: string): EndpointNames {
  const base = shortHash(`${slice}/${link}`);
  return {
    bridge: `vb${base}`,
    vethHost: `vh${base}`,
    // One tunnel per remote for point-to-point kinds (a LAN mesh), one for VXLAN.
    tunnel: (remote) => (remote === undefined ? `vt${base}` : `vt${shortHash(`${slice}/${link}/${remote}`)}`),
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
