// All conversion between API messages and domain types, in one place. Every
// converter is total: what it cannot convert it refuses with a VispError
// naming the field, never with a TypeError. A message from a client or an
// agent that is not what the proto says (an enum value this version does not
// know, which the decoder passes on as a number; a string where a message
// belongs) is bad input: InvalidSpecError, INVALID_ARGUMENT. A domain value a
// message cannot carry (a state or kind the API has no name for) is state
// the edge cannot show: IncompatibleStateError, FAILED_PRECONDITION.
// Absent scalars and lists read as proto3's defaults ('' / 0 / false / []).
import { IncompatibleStateError, InvalidSpecError, type VispError } from '../errors.js';
import { ADDRESS_CLASSES, type AddressClass } from '../ipam/types.js';
import type { DesiredEndpoint } from '../controller/desired.js';
import type { AllocationState, Encapsulation, Manifest, OperationalAction, OperationalState, Topology, TopologyLink } from '../controller/model.js';
import { perKind, TUNNEL_KINDS } from '../tunnel/kinds.js';
import type { TunnelKind } from '../tunnel/types.js';
import type { Capability as PbCapability } from './gen/visp/v1/Capability.js';
import type { EndpointSpec as PbEndpoint } from './gen/visp/v1/EndpointSpec.js';
import type { Manifest as PbManifest } from './gen/visp/v1/Manifest.js';
import type { Sliver as PbSliver } from './gen/visp/v1/Sliver.js';
import type { AddressClass__Output as PbClass } from './gen/visp/v1/AddressClass.js';
import type { AllocationState__Output as PbAllocation } from './gen/visp/v1/AllocationState.js';
import { Encapsulation as PB_ENCAPSULATION, type Encapsulation__Output as PbEncap } from './gen/visp/v1/Encapsulation.js';
import type { OperationalState__Output as PbOpState } from './gen/visp/v1/OperationalState.js';

// ---- reading and writing fields --------------------------------------------------

/** How a converter refuses a value: input (from a message) or output (into one). */
export type Refuse = (field: string, why: string) => VispError;
export const badInput: Refuse = (field, why) => new InvalidSpecError(`${field}: ${why}`, { field });
export const badOutput: Refuse = (field, why) => new IncompatibleStateError(`${field}: cannot be sent: ${why}`, { field });

/** A value for a message: short, and never throwing (BigInt, cycles, symbols). */
export function shown(v: unknown): string {
  try {
    const s = typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return Object.prototype.toString.call(v);
  }
}

const absent = (v: unknown): v is null | undefined => v === undefined || v === null;

export function text(v: unknown, field: string, refuse: Refuse = badInput): string {
  if (absent(v)) return '';
  if (typeof v !== 'string') throw refuse(field, `expected a string, got ${shown(v)}`);
  return v;
}

/** A uint32 field. */
export function count(v: unknown, field: string, refuse: Refuse = badInput): number {
  if (absent(v)) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw refuse(field, `expected a whole number 0–4294967295, got ${shown(v)}`);
  return v;
}

export function flag(v: unknown, field: string, refuse: Refuse = badInput): boolean {
  if (absent(v)) return false;
  if (typeof v !== 'boolean') throw refuse(field, `expected true or false, got ${shown(v)}`);
  return v;
}

/** A nested message: undefined when absent. */
export function message(v: unknown, field: string, refuse: Refuse = badInput): Record<string, unknown> | undefined {
  if (absent(v)) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw refuse(field, `expected a message, got ${shown(v)}`);
  return v as Record<string, unknown>;
}

/** A nested message that must be there. */
export function required(v: unknown, field: string, refuse: Refuse = badInput): Record<string, unknown> {
  const m = message(v, field, refuse);
  if (!m) throw refuse(field, 'is required');
  return m;
}

export function list<T>(v: unknown, field: string, each: (x: unknown, field: string) => T, refuse: Refuse = badInput): T[] {
  if (absent(v)) return [];
  if (!Array.isArray(v)) throw refuse(field, `expected a list, got ${shown(v)}`);
  return v.map((x, i) => each(x, `${field}[${i}]`));
}

export const texts = (v: unknown, field: string, refuse: Refuse = badInput): string[] => list(v, field, (x, f) => text(x, f, refuse), refuse);

/** Converters over lists are handed the index as the field: `xs.map(fromPb)` names `list[i]`. */
const fieldOf = (at: string | number, listName: string): string => (typeof at === 'number' ? `${listName}[${at}]` : at);

/**
 * A protobuf enum ↔ a domain value. Unset reads as `unspecified`, which maps
 * only where `pairs` says so; anything else not in `pairs` is refused.
 */
function enumeration<N extends string, T>(what: string, unspecified: string, pairs: ReadonlyArray<readonly [N, T]>): {
  fromPb(v: unknown, field: string): T;
  toPb(t: unknown, field: string): N;
} {
  const from = new Map<unknown, T>(pairs);
  const to = new Map<unknown, N>();
  for (const [n, t] of pairs) if (!to.has(t)) to.set(t, n);
  const names = pairs.map(([n]) => n).join(', ');
  return {
    fromPb(v, field) {
      const key = absent(v) || v === '' ? unspecified : v;
      if (from.has(key)) return from.get(key)!;
      if (key === unspecified) throw badInput(field, `is required: one of ${names}`);
      throw badInput(field, `${typeof v === 'number' ? `unknown ${what} value ${v}` : `unknown ${what} ${shown(v)}`} (expected one of ${names})`);
    },
    toPb(t, field) {
      if (!to.has(t)) throw badOutput(field, `${shown(t)} is not a ${what} the API knows (${[...to.keys()].join(', ')})`);
      return to.get(t)!;
    },
  };
}

// ---- enums -----------------------------------------------------------------------

const isPbEncap = (name: string): name is PbEncap => Object.hasOwn(PB_ENCAPSULATION, name);
/**
 * Every encapsulation the domain knows has its API name: auto's, and each
 * kind's as its driver declares it. A kind whose name the generated enum
 * lacks (registered, but not added to proto/visp/v1/types.proto) stops this
 * module from loading: the API could not carry it.
 */
const ENCAP_PB: Readonly<Record<Encapsulation, PbEncap>> = {
  auto: 'ENCAPSULATION_AUTO',
  ...perKind((d) => {
    if (!isPbEncap(d.proto)) throw new Error(`tunnel kind ${d.kind}: ${d.proto} is not a value of Encapsulation in proto/visp/v1/types.proto`);
    return d.proto;
  }),
};
const ENCAP = enumeration<PbEncap, Encapsulation>('encapsulation', 'ENCAPSULATION_UNSPECIFIED', [
  ...Object.entries(ENCAP_PB).map(([k, n]) => [n, k as Encapsulation] as const),
  ['ENCAPSULATION_UNSPECIFIED', 'auto'],
]);
export const encapToPb = (k: Encapsulation, at: string | number = 'encapsulation'): PbEncap => ENCAP.toPb(k, fieldOf(at, 'encapsulations'));
export const encapFromPb = (v: unknown, field: string): Encapsulation => ENCAP.fromPb(v, field);

/** A tunnel kind, as a capability or a resolved link carries it: AUTO is not one. */
export function kindFromPb(v: unknown, field: string): TunnelKind {
  const k = encapFromPb(v, field);
  if (k === 'auto') throw badInput(field, `expected a tunnel kind (${TUNNEL_KINDS.map((x) => ENCAP_PB[x]).join(', ')}), got ${shown(v)}`);
  return k;
}

const CLASS = enumeration<PbClass, AddressClass>('address class', 'ADDRESS_CLASS_UNSPECIFIED', [
  ...ADDRESS_CLASSES.map((c) => [`ADDRESS_CLASS_${c.toUpperCase()}` as PbClass, c] as const),
  ['ADDRESS_CLASS_UNSPECIFIED', 'local'],
]);
export const classToPb = (c: AddressClass, field = 'address_class'): PbClass => CLASS.toPb(c, field);

const OPERATIONAL_STATES: readonly OperationalState[] = ['pending', 'configuring', 'ready', 'failed', 'stopped'];
const STATE = enumeration<PbOpState, OperationalState | undefined>('operational state', 'OPERATIONAL_STATE_UNSPECIFIED', [
  ['OPERATIONAL_STATE_UNSPECIFIED', undefined],
  ...OPERATIONAL_STATES.map((s) => [`OPERATIONAL_STATE_${s.toUpperCase()}` as PbOpState, s] as const),
]);
export const stateToPb = (s: OperationalState | string, field = 'state'): PbOpState => STATE.toPb(s, field);
/** UNSPECIFIED (or unset): undefined, "any state" in a filter. */
export const stateFromPb = (v: unknown, field = 'state'): OperationalState | undefined => STATE.fromPb(v, field);

const ALLOCATION = enumeration<PbAllocation, AllocationState>('allocation state', 'ALLOCATION_STATE_UNSPECIFIED', (['allocated', 'provisioned', 'unallocated'] as const)
  .map((s) => [`ALLOCATION_STATE_${s.toUpperCase()}` as PbAllocation, s] as const));
export const allocationToPb = (s: AllocationState, field = 'allocation_state'): PbAllocation => ALLOCATION.toPb(s, field);

const ACTION = enumeration<string, OperationalAction>('operational action', 'OPERATIONAL_ACTION_UNSPECIFIED', [
  ['OPERATIONAL_ACTION_START', 'start'], ['OPERATIONAL_ACTION_STOP', 'stop'], ['OPERATIONAL_ACTION_RESTART', 'restart'],
]);
export const actionFromPb = (v: unknown, field = 'action'): OperationalAction => ACTION.fromPb(v, field);

const ROUTES = enumeration<string, 'default' | 'full'>('egress routes', 'EGRESS_ROUTES_UNSPECIFIED', [
  ['EGRESS_ROUTES_UNSPECIFIED', 'default'], ['EGRESS_ROUTES_DEFAULT', 'default'], ['EGRESS_ROUTES_FULL', 'full'],
]);

// ---- messages --------------------------------------------------------------------

/** A request's topology; undefined when the request has none (validation then says it is required). */
export function topologyFromPb(v: unknown, field = 'topology'): Topology | undefined {
  const t = message(v, field);
  if (!t) return undefined;
  return {
    nodes: list(t.nodes, `${field}.nodes`, (x, f) => {
      const n = required(x, f);
      const netns = text(n.netns, `${f}.netns`);
      return { id: text(n.id, `${f}.id`), node: text(n.node, `${f}.node`), ...(netns ? { netns } : {}) };
    }),
    links: list(t.links, `${field}.links`, linkFromPb),
  };
}

/** One link of a request's topology (`f` names it); big topologies' links are converted one by one (bulk-decode.ts). */
export function linkFromPb(x: unknown, f: string): TopologyLink {
  const l = required(x, f);
  const egress = message(l.egress, `${f}.egress`);
  // An egress link's addresses are public unless the request says otherwise (validation then refuses it).
  const cls = egress && (absent(l.addressClass) || l.addressClass === 'ADDRESS_CLASS_UNSPECIFIED') ? 'public' : CLASS.fromPb(l.addressClass, `${f}.address_class`);
  const addressing = (a: unknown, af: string): { enabled: boolean; prefixLength?: number } => {
    const m = message(a, af);
    const prefixLength = count(m?.prefixLength, `${af}.prefix_length`);
    return { enabled: flag(m?.enabled, `${af}.enabled`), ...(prefixLength ? { prefixLength } : {}) };
  };
  const { enabled: on4, ...v4 } = addressing(l.ipv4, `${f}.ipv4`);
  const { enabled: on6, ...v6 } = addressing(l.ipv6, `${f}.ipv6`);
  const mtu = count(l.mtu, `${f}.mtu`);
  return {
    id: text(l.id, `${f}.id`),
    members: list(l.members, `${f}.members`, (y, mf) => {
      const m = required(y, mf);
      const [ifname, ipv4, ipv6] = (['ifname', 'ipv4', 'ipv6'] as const).map((k) => text(m[k], `${mf}.${k}`));
      return { node: text(m.node, `${mf}.node`), ...(ifname ? { ifname } : {}), ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}) };
    }),
    encapsulation: encapFromPb(l.encapsulation, `${f}.encapsulation`),
    ...(mtu ? { mtu } : {}),
    addressClass: cls,
    ...(egress ? { egress: {
      node: text(egress.node, `${f}.egress.node`), routes: ROUTES.fromPb(egress.routes, `${f}.egress.routes`),
      defaultRoute: !flag(egress.noDefaultRoute, `${f}.egress.no_default_route`),
    } } : {}),
    // Neither family asked for: IPv4, as most experiments expect.
    ...(on4 ? { ipv4: v4 } : !on6 ? { ipv4: {} } : {}),
    ...(on6 ? { ipv6: v6 } : {}),
  };
}

/** What a node's agent says it can build (Register), and what ListNodes shows of it. */
export interface Capability { kind: TunnelKind; supported: boolean; reason?: string }
export const capabilityToPb = (c: Capability, at: string | number = 'capability'): PbCapability => {
  const field = fieldOf(at, 'capabilities');
  const m = required(c, field, badOutput);
  return { encapsulation: encapToPb(m.kind as TunnelKind, `${field}.encapsulation`), supported: flag(m.supported, `${field}.supported`, badOutput), reason: text(m.reason, `${field}.reason`, badOutput) };
};
export function capabilityFromPb(v: unknown, at: string | number = 'capability'): Capability {
  const field = fieldOf(at, 'capabilities');
  const c = required(v, field);
  const reason = text(c.reason, `${field}.reason`);
  return { kind: kindFromPb(c.encapsulation, `${field}.encapsulation`), supported: flag(c.supported, `${field}.supported`), ...(reason ? { reason } : {}) };
}

/** An endpoint of a node's desired state (and of a plan), controller → agent. */
export function endpointToPb(e: DesiredEndpoint, at: string | number = 'endpoint'): PbEndpoint {
  const field = fieldOf(at, 'endpoints');
  const m = required(e, field, badOutput);
  if (!TUNNEL_KINDS.includes(m.kind as TunnelKind)) throw badOutput(`${field}.kind`, `${shown(m.kind)} is not a tunnel kind`);
  return { ...e, mtu: e.mtu ?? 0, adminDown: e.adminDown ?? false, lan: e.lan ?? false };
}

export function endpointFromPb(v: unknown, at: string | number = 'endpoint'): DesiredEndpoint {
  const field = fieldOf(at, 'endpoints');
  const e = required(v, field);
  const kind = text(e.kind, `${field}.kind`);
  if (!TUNNEL_KINDS.includes(kind as TunnelKind)) throw badInput(`${field}.kind`, `${shown(kind)} is not one of ${TUNNEL_KINDS.join(', ')}`);
  const s = (k: string): string => text(e[k], `${field}.${k}`);
  const n = (k: string): number => count(e[k], `${field}.${k}`);
  const mtu = n('mtu');
  const routes = list(e.routes, `${field}.routes`, (x, f) => {
    const r = required(x, f);
    return { dst: text(r.dst, `${f}.dst`), via: text(r.via, `${f}.via`) };
  });
  return {
    slice: s('slice'), link: s('link'), group: n('group'), kind: kind as TunnelKind, local: s('local'), remotes: texts(e.remotes, `${field}.remotes`),
    lan: flag(e.lan, `${field}.lan`), key: n('key'), netns: s('netns'), ifname: s('ifname'), addresses: texts(e.addresses, `${field}.addresses`),
    ...(mtu ? { mtu } : {}), adminDown: flag(e.adminDown, `${field}.admin_down`), restart: n('restart'),
    ...(flag(e.egress, `${field}.egress`) ? { egress: true } : {}), ...(routes.length ? { routes } : {}),
  };
}

/** A time for a message (RFC 3339); '' for none. */
export function iso(t: number | undefined, field = 'time'): string {
  if (t === undefined) return '';
  if (typeof t !== 'number' || !Number.isFinite(t) || Math.abs(t) > 8.64e15) throw badOutput(field, `${shown(t)} is not a time`);
  return new Date(t).toISOString();
}

export function manifestToPb(m: Manifest): PbManifest {
  const r = required(m, 'manifest', badOutput);
  const alloc = allocationToPb(m.allocation);
  return {
    slice: text(r.slice, 'slice', badOutput),
    allocationState: alloc,
    operationalState: stateToPb(m.state, 'operational_state'),
    endTime: iso(m.endTime, 'end_time'),
    expires: iso(m.expiresAt, 'expires'),
    groupId: count(r.groupId, 'group_id', badOutput),
    blocks: list(r.blocks, 'blocks', (x, f) => {
      const b = required(x, f, badOutput);
      return { addressClass: classToPb(b.addressClass as AddressClass, `${f}.address_class`), prefix: text(b.prefix, `${f}.prefix`, badOutput), pool: text(b.pool, `${f}.pool`, badOutput) };
    }, badOutput),
    slivers: list(r.slivers, 'slivers', (x, f) => sliverToPb(x as Manifest['slivers'][number], alloc, f), badOutput),
  };
}

/** One sliver of a manifest (`f` names it in errors); a big manifest's reply is encoded sliver by sliver (encode.ts). */
export function sliverToPb(s: Manifest['slivers'][number], alloc: ReturnType<typeof allocationToPb>, f = 'sliver'): PbSliver {
  const l = required(required(s, f, badOutput).link, `${f}.link`, badOutput) as unknown as Manifest['slivers'][number]['link'];
  return {
    id: text(s.id, `${f}.id`, badOutput), link: text(l.id, `${f}.link`, badOutput), encapsulation: encapToPb(l.kind, `${f}.encapsulation`),
    key: count(l.key, `${f}.key`, badOutput), mtu: count(l.mtu, `${f}.mtu`, badOutput),
    ipv4Subnet: text(l.ipv4Subnet, `${f}.ipv4_subnet`, badOutput), ipv6Subnet: text(l.ipv6Subnet, `${f}.ipv6_subnet`, badOutput),
    addressClass: classToPb(l.addressClass, `${f}.address_class`),
    allocationState: alloc, operationalState: stateToPb(s.state, `${f}.operational_state`), error: text(s.error, `${f}.error`, badOutput),
    endpoints: list(s.endpoints, `${f}.endpoints`, (y, ef) => {
      const e = required(y, ef, badOutput) as unknown as Manifest['slivers'][number]['endpoints'][number];
      const t = (v: unknown, k: string): string => text(v, `${ef}.${k}`, badOutput);
      return {
        node: t(e.node, 'node'), physicalNode: t(e.physicalNode, 'physical_node'), netns: t(e.netns, 'netns'), ifname: t(e.ifname, 'ifname'),
        addresses: texts(e.addresses, `${ef}.addresses`, badOutput), underlayAddress: t(e.underlay, 'underlay_address'),
        remotes: texts(e.remotes, `${ef}.remotes`, badOutput), bridge: t(e.bridge, 'bridge'), tunnels: texts(e.devices, `${ef}.tunnels`, badOutput),
        operationalState: stateToPb(e.state, `${ef}.operational_state`), error: t(e.error, 'error'),
      };
    }, badOutput),
  };
}
