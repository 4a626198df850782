// All conversion between API messages and domain types, in one place.
import { InvalidSpecError } from '../errors.js';
import type { AddressClass } from '../ipam/types.js';
import type { DesiredEndpoint } from '../controller/desired.js';
import type { Encapsulation, Manifest, OperationalAction, OperationalState, Topology } from '../controller/model.js';
import type { TunnelKind } from '../tunnel/types.js';
import type { Capability as PbCapability, Capability__Output as PbCapabilityOut } from './gen/visp/v1/Capability.js';
import type { EndpointSpec as PbEndpoint, EndpointSpec__Output as PbEndpointOut } from './gen/visp/v1/EndpointSpec.js';
import type { Manifest as PbManifest } from './gen/visp/v1/Manifest.js';
import type { Topology__Output as PbTopology } from './gen/visp/v1/Topology.js';
import type { Encapsulation__Output as PbEncap } from './gen/visp/v1/Encapsulation.js';
import type { OperationalState__Output as PbOpState } from './gen/visp/v1/OperationalState.js';

const ENCAP: Record<string, Encapsulation> = {
  ENCAPSULATION_UNSPECIFIED: 'auto', ENCAPSULATION_AUTO: 'auto', ENCAPSULATION_VXLAN: 'vxlan', ENCAPSULATION_GRE: 'gre',
  ENCAPSULATION_GRETAP: 'gretap', ENCAPSULATION_IP6GRE: 'ip6gre', ENCAPSULATION_IP6GRETAP: 'ip6gretap', ENCAPSULATION_ETHERIP: 'etherip',
};
export const encapToPb = (k: Encapsulation): PbEncap => `ENCAPSULATION_${k.toUpperCase()}` as PbEncap;
export const encapFromPb = (v: string, field: string): Encapsulation => {
  const k = ENCAP[v];
  if (!k) throw new InvalidSpecError(`${field}: unknown encapsulation ${JSON.stringify(v)}`, { field });
  return k;
};

const CLASS: Record<string, AddressClass> = {
  ADDRESS_CLASS_UNSPECIFIED: 'local', ADDRESS_CLASS_LOCAL: 'local', ADDRESS_CLASS_PUBLIC: 'public', ADDRESS_CLASS_PRIVATE: 'private',
};
export const classToPb = (c: AddressClass): string => `ADDRESS_CLASS_${c.toUpperCase()}`;

export const stateToPb = (s: OperationalState | string): PbOpState => `OPERATIONAL_STATE_${s.toUpperCase()}` as PbOpState;
export const stateFromPb = (v: string): OperationalState | undefined =>
  v === 'OPERATIONAL_STATE_UNSPECIFIED' || !v ? undefined : (v.replace('OPERATIONAL_STATE_', '').toLowerCase() as OperationalState);

export function actionFromPb(v: string): OperationalAction {
  const a = { OPERATIONAL_ACTION_START: 'start', OPERATIONAL_ACTION_STOP: 'stop', OPERATIONAL_ACTION_RESTART: 'restart' }[v] as OperationalAction | undefined;
  if (!a) throw new InvalidSpecError(`action: must be START, STOP or RESTART, got ${JSON.stringify(v)}`, { field: 'action' });
  return a;
}

export function topologyFromPb(t: PbTopology | null | undefined): Topology | undefined {
  if (!t) return undefined;
  return {
    nodes: t.nodes.map((n) => ({ id: n.id, node: n.node, ...(n.netns ? { netns: n.netns } : {}) })),
    links: t.links.map((l, i) => {
      const f = `topology.links[${i}]`;
      // An egress link's addresses are public unless the request says otherwise (validation then refuses it).
      const cls = l.egress && l.addressClass === 'ADDRESS_CLASS_UNSPECIFIED' ? 'public' : CLASS[l.addressClass];
      if (!cls) throw new InvalidSpecError(`${f}.address_class: unknown class ${JSON.stringify(l.addressClass)}`, { field: `${f}.address_class` });
      const v4 = l.ipv4?.enabled ? { ...(l.ipv4.prefixLength ? { prefixLength: l.ipv4.prefixLength } : {}) } : undefined;
      const v6 = l.ipv6?.enabled ? { ...(l.ipv6.prefixLength ? { prefixLength: l.ipv6.prefixLength } : {}) } : undefined;
      // Neither family asked for: IPv4, as most experiments expect.
      const none = !l.ipv4?.enabled && !l.ipv6?.enabled;
      return {
        id: l.id,
        members: l.members.map((m) => ({ node: m.node, ...(m.ifname ? { ifname: m.ifname } : {}), ...(m.ipv4 ? { ipv4: m.ipv4 } : {}), ...(m.ipv6 ? { ipv6: m.ipv6 } : {}) })),
        encapsulation: encapFromPb(l.encapsulation, `${f}.encapsulation`),
        ...(l.mtu ? { mtu: l.mtu } : {}),
        addressClass: cls,
        ...(l.egress ? { egress: { node: l.egress.node, routes: l.egress.routes === 'EGRESS_ROUTES_FULL' ? 'full' as const : 'default' as const, defaultRoute: !l.egress.noDefaultRoute } } : {}),
        ...(v4 || none ? { ipv4: v4 ?? {} } : {}),
        ...(v6 ? { ipv6: v6 } : {}),
      };
    }),
  };
}

/** What a node's agent says it can build (Register), and what ListNodes shows of it. */
export interface Capability { kind: TunnelKind; supported: boolean; reason?: string }
export const capabilityToPb = (c: Capability): PbCapability => ({ encapsulation: encapToPb(c.kind), supported: c.supported, reason: c.reason ?? '' });
export const capabilityFromPb = (c: PbCapabilityOut): Capability =>
  ({ kind: c.encapsulation.replace('ENCAPSULATION_', '').toLowerCase() as TunnelKind, supported: c.supported, ...(c.reason ? { reason: c.reason } : {}) });

/** An endpoint of a node's desired state (and of a plan), controller → agent. */
export const endpointToPb = (e: DesiredEndpoint): PbEndpoint => ({ ...e, mtu: e.mtu ?? 0, adminDown: e.adminDown ?? false, lan: e.lan ?? false });

export const endpointFromPb = (e: PbEndpointOut): DesiredEndpoint => ({
  slice: e.slice, link: e.link, group: e.group, kind: e.kind as TunnelKind, local: e.local, remotes: e.remotes, lan: e.lan,
  key: e.key, netns: e.netns, ifname: e.ifname, addresses: e.addresses, ...(e.mtu ? { mtu: e.mtu } : {}), adminDown: e.adminDown, restart: e.restart,
  ...(e.egress ? { egress: true } : {}), ...(e.routes.length ? { routes: e.routes.map((r) => ({ dst: r.dst, via: r.via })) } : {}),
});

const iso = (t: number | undefined): string => (t === undefined ? '' : new Date(t).toISOString());

export function manifestToPb(m: Manifest): PbManifest {
  const alloc = `ALLOCATION_STATE_${m.allocation.toUpperCase()}`;
  return {
    slice: m.slice,
    allocationState: alloc as PbManifest['allocationState'],
    operationalState: stateToPb(m.state),
    endTime: iso(m.endTime),
    expires: iso(m.expiresAt),
    groupId: m.groupId,
    blocks: m.blocks.map((b) => ({ addressClass: classToPb(b.addressClass) as 'ADDRESS_CLASS_LOCAL', prefix: b.prefix, pool: b.pool })),
    slivers: m.slivers.map((s) => ({
      id: s.id, link: s.link.id, encapsulation: encapToPb(s.link.kind as TunnelKind), key: s.link.key, mtu: s.link.mtu,
      ipv4Subnet: s.link.ipv4Subnet ?? '', ipv6Subnet: s.link.ipv6Subnet ?? '', addressClass: classToPb(s.link.addressClass) as 'ADDRESS_CLASS_LOCAL',
      allocationState: alloc as PbManifest['allocationState'], operationalState: stateToPb(s.state), error: s.error ?? '',
      endpoints: s.endpoints.map((e) => ({
        node: e.node, physicalNode: e.physicalNode, netns: e.netns, ifname: e.ifname, addresses: e.addresses, underlayAddress: e.underlay,
        remotes: e.remotes, bridge: e.bridge ?? '', tunnels: e.devices, operationalState: stateToPb(e.state), error: e.error ?? '',
      })),
    })),
  };
}

export { iso };
