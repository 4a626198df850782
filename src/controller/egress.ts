// BGP egress in the controller: validating an egress node's configuration,
// and computing what each egress node must announce and route. The node's
// agent does the rest (src/agent/egress.ts); see docs/egress.md.
import { InvalidSpecError } from '../errors.js';
import { parsePrefix, type Family } from '../ipam/prefix.js';
import type { IpamConfigSpec } from '../ipam/types.js';
import type { EgressDesired, EgressRoutes, EgressSliceDesired } from '../bgp/desired.js';
import { resolveEgress } from '../bgp/reconcile.js';
import { EGRESS_MEMBER, type EgressConfig, type SliceRecord } from './model.js';
import { ID } from './validate.js';

const FALLBACK_MAX_LENGTH: Record<Family, number> = { ipv4: 24, ipv6: 48 };

/** Refuses what the speaker would refuse, naming the field under `config.`. */
export function validateEgressConfig(c: EgressConfig): void {
  if (!c.node || !ID.test(c.node)) throw new InvalidSpecError(`config.node: ${JSON.stringify(c.node)} is not a node name`, { field: 'config.node' });
  try {
    resolveEgress({ asn: c.asn, routerId: c.routerId, providers: c.providers, announcements: [] });
  } catch (e) {
    if (e instanceof InvalidSpecError && e.field) {
      const field = `config.${e.field.replace('maxPrefixes', 'max_prefixes').replace('routerId', 'router_id')}`;
      throw new InvalidSpecError(`${field}: ${e.message.slice(e.message.indexOf(': ') + 2)}`, { field, cause: e });
    }
    throw e;
  }
  for (const fam of ['ipv4', 'ipv6'] as const) {
    const v = c.maxLength?.[fam];
    const max = fam === 'ipv4' ? 32 : 128;
    if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > max)) {
      throw new InvalidSpecError(`config.max_length_${fam === 'ipv4' ? 'v4' : 'v6'}: ${v} is not a prefix length (1–${max})`, { field: `config.max_length_${fam === 'ipv4' ? 'v4' : 'v6'}` });
    }
  }
}

/**
 * The most specific announcement per family: a slice's block is never more
 * specific than its pool's default block length, so announcing up to that
 * is exactly "what the pool allows". An operator may tighten it per node.
 */
export function maxLengthFor(c: EgressConfig, ipam: IpamConfigSpec | undefined): Record<Family, number> {
  const out = { ...FALLBACK_MAX_LENGTH };
  for (const fam of ['ipv4', 'ipv6'] as const) {
    const pools = (ipam?.pools ?? []).filter((p) => p.class === 'public' && parsePrefix(p.prefix, 'pool').family === fam);
    if (pools.length) out[fam] = Math.max(...pools.map((p) => p.defaultBlockLength ?? FALLBACK_MAX_LENGTH[fam]));
    const set = c.maxLength?.[fam];
    if (set !== undefined) out[fam] = Math.min(out[fam], set);
  }
  return out;
}

/** The egress node's desired state: its identity, providers, and every provisioned slice egressing here. */
export function egressDesiredFor(c: EgressConfig, slices: Iterable<SliceRecord>, maxLength: Record<Family, number>): EgressDesired {
  const out: EgressSliceDesired[] = [];
  for (const s of slices) {
    if (s.state !== 'provisioned') continue;
    const links = s.links.filter((l) => l.egress?.node === c.node);
    if (!links.length) continue;
    const nextHops = links.flatMap((l) => {
      const router = l.endpoints.find((e) => e.node !== EGRESS_MEMBER)!;
      const here = l.endpoints.find((e) => e.node === EGRESS_MEMBER)!;
      return router.addresses.map((a) => ({ address: a.split('/')[0]!, dev: here.ifname }));
    });
    const routes: EgressRoutes = links.some((l) => l.egress!.routes === 'full') ? 'full' : 'default';
    out.push({ slice: s.slice, table: s.groupId, blocks: s.blocks.filter((b) => b.addressClass === 'public').map((b) => b.prefix), nextHops, routes });
  }
  return { asn: c.asn, routerId: c.routerId, providers: c.providers, maxLength, slices: out.sort((a, b) => a.slice.localeCompare(b.slice)) };
}
