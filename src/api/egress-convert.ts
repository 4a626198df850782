// Conversion of BGP egress messages (desired state, reports, node config)
// between the API and the domain, in one place.
import { isIP } from 'node:net';
import type { EgressDesired, EgressStatus } from '../bgp/desired.js';
import type { Family, ProviderSpec } from '../bgp/reconcile.js';
import type { EgressConfig } from '../controller/model.js';
import { InvalidSpecError } from '../errors.js';
import type { BgpProvider, BgpProvider__Output } from './gen/visp/v1/BgpProvider.js';
import type { EgressDesired as PbDesired, EgressDesired__Output as PbDesiredOut } from './gen/visp/v1/EgressDesired.js';
import type { EgressNodeConfig, EgressNodeConfig__Output } from './gen/visp/v1/EgressNodeConfig.js';
import type { EgressReport, EgressReport__Output } from './gen/visp/v1/EgressReport.js';

/** Providers may leave families and max_prefixes empty: the address's own family, 1,000. */
export const DEFAULT_MAX_PREFIXES = 1000;

export function providerFromPb(p: BgpProvider__Output, field: string): ProviderSpec {
  const fam: Family = isIP(p.address) === 6 ? 'ipv6' : 'ipv4';
  p.families.forEach((f, i) => {
    if (f !== 'ipv4' && f !== 'ipv6') throw new InvalidSpecError(`${field}.families[${i}]: ${JSON.stringify(f)} is not ipv4 or ipv6`, { field: `${field}.families[${i}]` });
  });
  return {
    address: p.address, asn: p.asn, ...(p.password ? { password: p.password } : {}),
    families: p.families.length ? (p.families as Family[]) : [fam], maxPrefixes: p.maxPrefixes || DEFAULT_MAX_PREFIXES,
  };
}
const providerToPb = (p: ProviderSpec): BgpProvider => ({ address: p.address, asn: p.asn, password: p.password ?? '', families: p.families, maxPrefixes: p.maxPrefixes });

export function configFromPb(c: EgressNodeConfig__Output | null | undefined): EgressConfig {
  if (!c) throw new InvalidSpecError('config: is required', { field: 'config' });
  const maxLength = { ...(c.maxLengthV4 ? { ipv4: c.maxLengthV4 } : {}), ...(c.maxLengthV6 ? { ipv6: c.maxLengthV6 } : {}) };
  return {
    node: c.node, asn: c.asn, routerId: c.routerId, providers: c.providers.map((p, i) => providerFromPb(p, `config.providers[${i}]`)),
    ...(Object.keys(maxLength).length ? { maxLength } : {}),
  };
}
export const configToPb = (c: EgressConfig): EgressNodeConfig => ({
  node: c.node, asn: c.asn, routerId: c.routerId, providers: c.providers.map(providerToPb),
  maxLengthV4: c.maxLength?.ipv4 ?? 0, maxLengthV6: c.maxLength?.ipv6 ?? 0,
});

export const desiredToPb = (d: EgressDesired | undefined): PbDesired => (!d ? { enabled: false } : {
  enabled: true, asn: d.asn, routerId: d.routerId, providers: d.providers.map(providerToPb),
  maxLengthV4: d.maxLength.ipv4, maxLengthV6: d.maxLength.ipv6, slices: d.slices,
});

export function desiredFromPb(d: PbDesiredOut | null | undefined): EgressDesired | undefined {
  if (!d?.enabled) return undefined;
  return {
    asn: d.asn, routerId: d.routerId, providers: d.providers.map((p, i) => providerFromPb(p, `egress.providers[${i}]`)),
    maxLength: { ipv4: d.maxLengthV4, ipv6: d.maxLengthV6 },
    slices: d.slices.map((s) => ({ slice: s.slice, table: s.table, blocks: s.blocks, nextHops: s.nextHops.map((h) => ({ address: h.address, dev: h.dev })), routes: s.routes === 'full' ? 'full' : 'default' })),
  };
}

const iso = (ms: number): string => (ms ? new Date(ms).toISOString() : '');

export const statusToPb = (s: EgressStatus | undefined): EgressReport => (!s ? { enabled: false } : {
  enabled: s.enabled, running: s.running, error: s.error ?? '', pid: s.pid ?? 0,
  peers: s.peers.map((p) => ({ ...p, since: iso(p.since) })),
  slices: s.slices,
});

export function statusFromPb(r: EgressReport__Output | null | undefined): EgressStatus | undefined {
  if (!r?.enabled) return undefined;
  return {
    enabled: true, running: r.running, ...(r.error ? { error: r.error } : {}), ...(r.pid ? { pid: r.pid } : {}),
    peers: r.peers.map((p) => ({ ...p, since: p.since ? Date.parse(p.since) : 0 })),
    slices: r.slices.map((s) => ({ slice: s.slice, announced: s.announced, routesInstalled: s.routesInstalled, table: s.table })),
  };
}
