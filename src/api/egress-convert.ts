// Conversion of BGP egress messages (desired state, reports, node config)
// between the API and the domain, in one place. Total, like convert.ts:
// what cannot be converted is refused with a VispError naming the field.
import { isIP } from 'node:net';
import type { EgressDesired, EgressStatus } from '../bgp/desired.js';
import type { Family, ProviderSpec } from '../bgp/reconcile.js';
import type { EgressConfig } from '../controller/model.js';
import type { EgressNodeView } from '../controller/controller.js';
import { badInput, badOutput, count, fieldOf, flag, iso, list, message, required, shown, text, texts, type Refuse } from './fields.js';
import type { BgpProvider } from './gen/visp/v1/BgpProvider.js';
import type { EgressDesired as PbDesired } from './gen/visp/v1/EgressDesired.js';
import type { EgressNodeConfig } from './gen/visp/v1/EgressNodeConfig.js';
import type { EgressNodeStatus } from './gen/visp/v1/EgressNodeStatus.js';
import type { EgressReport } from './gen/visp/v1/EgressReport.js';

/** Providers may leave families and max_prefixes empty: the address's own family, 1,000. */
export const DEFAULT_MAX_PREFIXES = 1000;

const family = (v: unknown, field: string): Family => {
  if (v !== 'ipv4' && v !== 'ipv6') throw badInput(field, `${shown(v)} is not ipv4 or ipv6`);
  return v;
};

export function providerFromPb(v: unknown, field: string): ProviderSpec {
  const p = required(v, field);
  const address = text(p.address, `${field}.address`);
  const families = list(p.families, `${field}.families`, family);
  const password = text(p.password, `${field}.password`);
  const localAddress = text(p.localAddress, `${field}.local_address`);
  return {
    address, asn: count(p.asn, `${field}.asn`), ...(password ? { password } : {}), ...(localAddress ? { localAddress } : {}),
    families: families.length ? families : [isIP(address) === 6 ? 'ipv6' : 'ipv4'], maxPrefixes: count(p.maxPrefixes, `${field}.max_prefixes`) || DEFAULT_MAX_PREFIXES,
  };
}

function providerToPb(v: ProviderSpec, field: string): BgpProvider {
  const p = required(v, field, badOutput);
  return {
    address: text(p.address, `${field}.address`, badOutput), asn: count(p.asn, `${field}.asn`, badOutput), password: text(p.password, `${field}.password`, badOutput),
    families: texts(p.families, `${field}.families`, badOutput), maxPrefixes: count(p.maxPrefixes, `${field}.max_prefixes`, badOutput),
    localAddress: text(p.localAddress, `${field}.local_address`, badOutput),
  };
}

export function configFromPb(v: unknown, field = 'config'): EgressConfig {
  const c = required(v, field);
  const [v4, v6] = [count(c.maxLengthV4, `${field}.max_length_v4`), count(c.maxLengthV6, `${field}.max_length_v6`)];
  const maxLength = { ...(v4 ? { ipv4: v4 } : {}), ...(v6 ? { ipv6: v6 } : {}) };
  return {
    node: text(c.node, `${field}.node`), asn: count(c.asn, `${field}.asn`), routerId: text(c.routerId, `${field}.router_id`),
    providers: list(c.providers, `${field}.providers`, providerFromPb),
    ...(Object.keys(maxLength).length ? { maxLength } : {}),
  };
}

export function configToPb(v: EgressConfig, field = 'config'): EgressNodeConfig {
  const c = required(v, field, badOutput);
  const ml = message(c.maxLength, `${field}.max_length`, badOutput);
  return {
    node: text(c.node, `${field}.node`, badOutput), asn: count(c.asn, `${field}.asn`, badOutput), routerId: text(c.routerId, `${field}.router_id`, badOutput),
    providers: list(c.providers, `${field}.providers`, (p, f) => providerToPb(p as ProviderSpec, f), badOutput),
    maxLengthV4: count(ml?.ipv4, `${field}.max_length_v4`, badOutput), maxLengthV6: count(ml?.ipv6, `${field}.max_length_v6`, badOutput),
  };
}

/** A slice's egress routes: "full", or "default" (also for empty). */
function routesOf(v: unknown, field: string, refuse: Refuse): 'default' | 'full' {
  const r = text(v, field, refuse);
  if (r === 'full' || r === 'default') return r;
  if (r === '') return 'default';
  throw refuse(field, `${shown(r)} is not default or full`);
}

function slicesOf(v: unknown, field: string, refuse: Refuse): EgressDesired['slices'] {
  return list(v, field, (x, f) => {
    const s = required(x, f, refuse);
    return {
      slice: text(s.slice, `${f}.slice`, refuse), table: count(s.table, `${f}.table`, refuse), blocks: texts(s.blocks, `${f}.blocks`, refuse),
      nextHops: list(s.nextHops, `${f}.next_hops`, (y, hf) => {
        const h = required(y, hf, refuse);
        return { address: text(h.address, `${hf}.address`, refuse), dev: text(h.dev, `${hf}.dev`, refuse) };
      }, refuse),
      routes: routesOf(s.routes, `${f}.routes`, refuse),
    };
  }, refuse);
}

export function desiredToPb(v: EgressDesired | undefined, field = 'egress'): PbDesired {
  const d = message(v, field, badOutput);
  if (!d) return { enabled: false };
  const ml = required(d.maxLength, `${field}.max_length`, badOutput);
  return {
    enabled: true, asn: count(d.asn, `${field}.asn`, badOutput), routerId: text(d.routerId, `${field}.router_id`, badOutput),
    providers: list(d.providers, `${field}.providers`, (p, f) => providerToPb(p as ProviderSpec, f), badOutput),
    maxLengthV4: count(ml.ipv4, `${field}.max_length_v4`, badOutput), maxLengthV6: count(ml.ipv6, `${field}.max_length_v6`, badOutput),
    slices: slicesOf(d.slices, `${field}.slices`, badOutput),
  };
}

export function desiredFromPb(v: unknown, field = 'egress'): EgressDesired | undefined {
  const d = message(v, field);
  if (!d || !flag(d.enabled, `${field}.enabled`)) return undefined;
  return {
    asn: count(d.asn, `${field}.asn`), routerId: text(d.routerId, `${field}.router_id`), providers: list(d.providers, `${field}.providers`, providerFromPb),
    maxLength: { ipv4: count(d.maxLengthV4, `${field}.max_length_v4`), ipv6: count(d.maxLengthV6, `${field}.max_length_v6`) },
    slices: slicesOf(d.slices, `${field}.slices`, badInput),
  };
}

export function statusToPb(v: EgressStatus | undefined, field = 'egress'): EgressReport {
  const s = message(v, field, badOutput);
  if (!s) return { enabled: false };
  return {
    enabled: flag(s.enabled, `${field}.enabled`, badOutput), running: flag(s.running, `${field}.running`, badOutput),
    error: text(s.error, `${field}.error`, badOutput), pid: count(s.pid, `${field}.pid`, badOutput),
    peers: list(s.peers, `${field}.peers`, (x, f) => {
      const p = required(x, f, badOutput);
      return {
        address: text(p.address, `${f}.address`, badOutput), asn: count(p.asn, `${f}.asn`, badOutput), state: text(p.state, `${f}.state`, badOutput),
        since: p.since ? iso(p.since as number, `${f}.since`) : '',
        received: count(p.received, `${f}.received`, badOutput), accepted: count(p.accepted, `${f}.accepted`, badOutput),
        advertised: count(p.advertised, `${f}.advertised`, badOutput),
      };
    }, badOutput),
    slices: list(s.slices, `${field}.slices`, (x, f) => sliceStatus(x, f, badOutput), badOutput),
  };
}

/** An egress node as ListBgp shows it: its configuration, and what its agent last reported. */
export function bgpNodeToPb(n: EgressNodeView, at: string | number = 'node'): EgressNodeStatus {
  const f = fieldOf(at, 'nodes');
  const st = statusToPb(n.status, f);
  return {
    node: n.node, connected: n.connected, config: configToPb(n.config, `${f}.config`),
    running: st.running ?? false, error: st.error ?? '', pid: st.pid ?? 0, peers: st.peers ?? [], slices: st.slices ?? [],
  };
}

function sliceStatus(x: unknown, f: string, refuse: Refuse): EgressStatus['slices'][number] {
  const s = required(x, f, refuse);
  return {
    slice: text(s.slice, `${f}.slice`, refuse), announced: texts(s.announced, `${f}.announced`, refuse),
    routesInstalled: count(s.routesInstalled, `${f}.routes_installed`, refuse), table: count(s.table, `${f}.table`, refuse),
  };
}

export function statusFromPb(v: unknown, field = 'egress'): EgressStatus | undefined {
  const r = message(v, field);
  if (!r || !flag(r.enabled, `${field}.enabled`)) return undefined;
  const error = text(r.error, `${field}.error`);
  const pid = count(r.pid, `${field}.pid`);
  return {
    enabled: true, running: flag(r.running, `${field}.running`), ...(error ? { error } : {}), ...(pid ? { pid } : {}),
    peers: list(r.peers, `${field}.peers`, (x, f) => {
      const p = required(x, f);
      const sinceText = text(p.since, `${f}.since`);
      const since = sinceText ? Date.parse(sinceText) : 0;
      if (Number.isNaN(since)) throw badInput(`${f}.since`, `${shown(sinceText)} is not a time`);
      return {
        address: text(p.address, `${f}.address`), asn: count(p.asn, `${f}.asn`), state: text(p.state, `${f}.state`), since,
        received: count(p.received, `${f}.received`), accepted: count(p.accepted, `${f}.accepted`), advertised: count(p.advertised, `${f}.advertised`),
      };
    }),
    slices: list(r.slices, `${field}.slices`, (x, f) => sliceStatus(x, f, badInput)),
  };
}
