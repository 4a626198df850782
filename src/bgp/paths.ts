// Reading GoBGP's Path messages (NLRI and attributes arrive as
// google.protobuf.Any, decoded by the loader into objects with "@type").
import type { Path__Output } from './gen/apipb/Path.js';

/** True for paths this speaker originated (AddPath), not learned from a peer. */
export function isLocal(p: Path__Output): boolean {
  return !p.isFromExternal && (p.neighborIp === '' || p.neighborIp === '<nil>' || p.neighborIp === '0.0.0.0' || p.neighborIp === '::');
}

export function nlriPrefix(p: Path__Output): string | undefined {
  const n = p.nlri as unknown as { prefix?: string; prefixLen?: number } | null;
  return n?.prefix !== undefined && n.prefixLen !== undefined ? `${n.prefix}/${n.prefixLen}` : undefined;
}

interface AnyAttr { '@type'?: string; [k: string]: unknown }
const attrs = (p: Path__Output): AnyAttr[] => p.pattrs as unknown as AnyAttr[];
const typeIs = (a: AnyAttr, name: string): boolean => a['@type']?.endsWith(`/apipb.${name}`) ?? false;

/** The AS path as a flat list (AS_SEQUENCE and AS_SET numbers in order). */
export function asPathOf(p: Path__Output): number[] {
  const a = attrs(p).find((x) => typeIs(x, 'AsPathAttribute')) as { segments?: Array<{ numbers?: number[] }> } | undefined;
  return (a?.segments ?? []).flatMap((s) => s.numbers ?? []);
}

/** Next hop: NEXT_HOP for IPv4 unicast, the first MP_REACH next hop otherwise. */
export function nextHopOf(p: Path__Output): string | undefined {
  for (const a of attrs(p)) {
    if (typeIs(a, 'NextHopAttribute')) return a.nextHop as string;
    if (typeIs(a, 'MpReachNLRIAttribute')) return (a.nextHops as string[] | undefined)?.[0];
  }
  return undefined;
}

/**
 * What a path tells a provider besides its prefix, as one comparable string:
 * origin, AS path, next hop, and every other attribute (MED, communities of
 * each kind, anything else) by type and value. Two of our own paths for the
 * same prefix have equal facts; a path injected with another origin AS, a
 * community or another next hop does not.
 */
export function pathFacts(p: Path__Output): string {
  const out: string[] = [];
  for (const a of attrs(p)) {
    const type = (a['@type'] ?? '').replace(/^.*\/apipb\./, '');
    if (type === 'AsPathAttribute') out.push(`as-path ${asPathOf(p).join(' ')}`);
    else if (type === 'NextHopAttribute' || type === 'MpReachNLRIAttribute') out.push(`next-hop ${nextHopOf(p) ?? ''}`);
    else if (type === 'OriginAttribute') out.push(`origin ${String(a.origin)}`);
    else {
      const { '@type': _t, ...rest } = a;
      out.push(`${type} ${JSON.stringify(rest)}`);
    }
  }
  if (!out.some((x) => x.startsWith('as-path '))) out.push('as-path ');
  return out.sort().join('; ');
}

/** The facts of a path we originate: origin IGP, empty AS path, next hop self. */
export function ownPathFacts(family: 'ipv4' | 'ipv6'): string {
  return ['as-path ', `next-hop ${family === 'ipv4' ? '0.0.0.0' : '::'}`, 'origin 0'].join('; ');
}
