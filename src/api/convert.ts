// All conversion between API messages and domain types, in one place. Every
// converter is total: what it cannot convert it refuses with a VispError
// naming the field, never with a TypeError. A message from a client or an
// agent that is not what the proto says (an enum value this version does not
// know, which the decoder passes on as a number; a string where a message
// belongs) is bad input: InvalidSpecError, INVALID_ARGUMENT. A domain value a
// message cannot carry (a state or kind the API has no name for) is state
// the edge cannot show: IncompatibleStateError, FAILED_PRECONDITION.
// Absent scalars and lists read as proto3's defaults ('' / 0 / false / []).
// BGP egress messages have their own file beside this one (egress-convert.ts);
// the field readers both are built from are in fields.ts.
import { ADDRESS_CLASSES, type AddressClass } from '../ipam/types.js';
import type { DesiredEndpoint } from '../controller/desired.js';
import type { AllocationState, Encapsulation, Manifest, OperationalAction, OperationalState, ScheduledChange, Topology, TopologyLink } from '../controller/model.js';
import type { ScheduledChange as PbScheduledChange } from './gen/visp/v1/ScheduledChange.js';
import type { OperationalAction__Output as PbAction } from './gen/visp/v1/OperationalAction.js';
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
import { propertiesFromPb, propertiesToPb, shapersFromPb, shaperSupportToPb } from './shape-convert.js';
import type { ShaperSupport } from '../shape/probe.js';
export { propertiesFromPb, propertiesToPb };
import { absent, badInput, badOutput, count, count64, enumeration, fieldOf, flag, iso, list, message, required, shown, text, texts } from './fields.js';
import type { AgentCore, Desired, Report } from '../agent/agent.js';
import type { Controller, ControllerEvent, DesiredState, PlanReply, TunnelView } from '../controller/controller.js';
import type { EndpointReport, PathHealth } from '../controller/status.js';
import type { PathHealth as PbPathHealth } from './gen/visp/v1/PathHealth.js';
import { sliverId, type Addressing, type SliceRequest } from '../controller/model.js';
import { desiredFromPb, desiredToPb, statusFromPb, statusToPb } from './egress-convert.js';
import type { EgressRoutes__Output as PbRoutes } from './gen/visp/v1/EgressRoutes.js';
import type { AllocateRequest__Output as PbAllocateRequest } from './gen/visp/v1/AllocateRequest.js';
import type { Addressing as PbAddressing } from './gen/visp/v1/Addressing.js';
import type { DesiredState as PbDesiredState, DesiredState__Output as PbDesiredStateIn } from './gen/visp/v1/DesiredState.js';
import type { GetVersionResponse as PbVersion } from './gen/visp/v1/GetVersionResponse.js';
import type { ListTunnelsRequest__Output as PbTunnelFilter } from './gen/visp/v1/ListTunnelsRequest.js';
import type { NodeInfo as PbNodeInfo } from './gen/visp/v1/NodeInfo.js';
import type { NodePlan as PbNodePlan } from './gen/visp/v1/NodePlan.js';
import type { NodeResource as PbNodeResource } from './gen/visp/v1/NodeResource.js';
import type { PlanQuery as PbPlanQuery, PlanQuery__Output as PbPlanQueryIn } from './gen/visp/v1/PlanQuery.js';
import type { PlanRequest__Output as PbPlanRequest } from './gen/visp/v1/PlanRequest.js';
import type { PlanResult as PbPlanResult, PlanResult__Output as PbPlanResultIn } from './gen/visp/v1/PlanResult.js';
import type { Register as PbRegister, Register__Output as PbRegisterIn } from './gen/visp/v1/Register.js';
import type { Report as PbReport, Report__Output as PbReportIn } from './gen/visp/v1/Report.js';
import type { SliceInfo as PbSliceInfo } from './gen/visp/v1/SliceInfo.js';
import type { Topology as PbTopology } from './gen/visp/v1/Topology.js';
import type { Tunnel as PbTunnel } from './gen/visp/v1/Tunnel.js';
import type { WatchEventsResponse as PbEvent } from './gen/visp/v1/WatchEventsResponse.js';

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

const OPERATIONAL_STATES: readonly OperationalState[] = ['pending', 'configuring', 'ready', 'failed', 'stopped', 'degraded', 'down'];
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

const ACTION = enumeration<PbAction, OperationalAction>('operational action', 'OPERATIONAL_ACTION_UNSPECIFIED', [
  ['OPERATIONAL_ACTION_START', 'start'], ['OPERATIONAL_ACTION_STOP', 'stop'], ['OPERATIONAL_ACTION_RESTART', 'restart'],
]);
export const actionFromPb = (v: unknown, field = 'action'): OperationalAction => ACTION.fromPb(v, field);
export const actionToPb = (a: OperationalAction, field = 'action'): PbAction => ACTION.toPb(a, field);

/** A change scheduled for later (docs/links.md, "At a given time"). */
export function scheduledToPb(c: ScheduledChange, f = 'scheduled'): PbScheduledChange {
  const p = c.properties;
  return {
    id: text(c.id, `${f}.id`, badOutput), at: iso(c.at, `${f}.at`),
    ...(p ? { link: p.link, properties: propertiesToPb(p.properties, `${f}.properties`) ?? null, members: (p.members ?? []).map((m, j) => ({ node: m.node, properties: propertiesToPb(m.properties, `${f}.members[${j}].properties`) ?? null })) } : {}),
    ...(c.action ? { action: actionToPb(c.action.action, `${f}.action`), slivers: c.action.slivers } : {}),
  };
}

const ROUTES = enumeration<PbRoutes, 'default' | 'full'>('egress routes', 'EGRESS_ROUTES_UNSPECIFIED', [
  ['EGRESS_ROUTES_DEFAULT', 'default'], ['EGRESS_ROUTES_FULL', 'full'], ['EGRESS_ROUTES_UNSPECIFIED', 'default'],
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
  const properties = propertiesFromPb(l.properties, `${f}.properties`);
  return {
    id: text(l.id, `${f}.id`),
    members: list(l.members, `${f}.members`, (y, mf) => {
      const m = required(y, mf);
      const [ifname, ipv4, ipv6] = (['ifname', 'ipv4', 'ipv6'] as const).map((k) => text(m[k], `${mf}.${k}`));
      const properties = propertiesFromPb(m.properties, `${mf}.properties`);
      return { node: text(m.node, `${mf}.node`), ...(ifname ? { ifname } : {}), ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}), ...(properties ? { properties } : {}) };
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
    ...(properties ? { properties } : {}),
    ...(flag(l.guaranteed, `${f}.guaranteed`) ? { guaranteed: true } : {}),
  };
}

/** A topology as visp's own front ends (lab, CLI, examples) send it: enum names, Addressing messages, absent fields left out. */
export function topologyToPb(t: Topology, field = 'topology'): PbTopology {
  const addressing = (a: Addressing | undefined): PbAddressing | null => (a ? { enabled: true, prefixLength: a.prefixLength } : null);
  // (An undefined field is absent: the encoder leaves it out.)
  return {
    nodes: t.nodes.map((n) => ({ id: n.id, node: n.node, netns: n.netns })),
    links: t.links.map((l, i) => ({
      id: l.id,
      members: l.members.map((m, j) => ({
        node: m.node, ifname: m.ifname, ipv4: m.ipv4, ipv6: m.ipv6,
        ...(m.properties ? { properties: propertiesToPb(m.properties, `${field}.links[${i}].members[${j}].properties`) ?? null } : {}),
      })),
      encapsulation: encapToPb(l.encapsulation, `${field}.links[${i}].encapsulation`),
      addressClass: classToPb(l.addressClass, `${field}.links[${i}].address_class`),
      mtu: l.mtu, ipv4: addressing(l.ipv4), ipv6: addressing(l.ipv6),
      ...(l.properties ? { properties: propertiesToPb(l.properties, `${field}.links[${i}].properties`) ?? null } : {}),
      ...(l.guaranteed ? { guaranteed: true } : {}),
      ...(l.egress ? { egress: {
        node: l.egress.node, routes: ROUTES.toPb(l.egress.routes, `${field}.links[${i}].egress.routes`), noDefaultRoute: !l.egress.defaultRoute,
      } } : {}),
    })),
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
  const { properties, ...rest } = e;
  return { ...rest, mtu: e.mtu ?? 0, adminDown: e.adminDown ?? false, lan: e.lan ?? false, ...(properties ? { properties: propertiesToPb(properties, `${field}.properties`) } : {}) };
}

export function endpointFromPb(v: unknown, at: string | number = 'endpoint'): DesiredEndpoint {
  const field = fieldOf(at, 'endpoints');
  const e = required(v, field);
  const kind = text(e.kind, `${field}.kind`);
  if (!TUNNEL_KINDS.includes(kind as TunnelKind)) throw badInput(`${field}.kind`, `${shown(kind)} is not one of ${TUNNEL_KINDS.join(', ')}`);
  const s = (k: string): string => text(e[k], `${field}.${k}`);
  const n = (k: string): number => count(e[k], `${field}.${k}`);
  const mtu = n('mtu');
  const properties = propertiesFromPb(e.properties, `${field}.properties`);
  const routes = list(e.routes, `${field}.routes`, (x, f) => {
    const r = required(x, f);
    return { dst: text(r.dst, `${f}.dst`), via: text(r.via, `${f}.via`) };
  });
  return {
    slice: s('slice'), link: s('link'), group: n('group'), kind: kind as TunnelKind, local: s('local'), remotes: texts(e.remotes, `${field}.remotes`),
    lan: flag(e.lan, `${field}.lan`), key: n('key'), netns: s('netns'), ifname: s('ifname'), addresses: texts(e.addresses, `${field}.addresses`),
    ...(mtu ? { mtu } : {}), adminDown: flag(e.adminDown, `${field}.admin_down`), restart: n('restart'),
    ...(flag(e.egress, `${field}.egress`) ? { egress: true } : {}), ...(routes.length ? { routes } : {}),
    ...(properties ? { properties } : {}),
  };
}

// ---- requests ----------------------------------------------------------------------

/**
 * Allocate's and Plan's request. The topology is required; the slice and the
 * end time are the validator's to judge. A big request's topology comes
 * converted already, in paced stretches (bulk-decode.ts).
 */
export function sliceRequestFromPb(r: PbAllocateRequest | PbPlanRequest, topology = topologyFromPb(r?.topology)): SliceRequest {
  required(r, 'request');
  if (!topology) throw badInput('topology', 'is required');
  const endTime = text(r.endTime, 'end_time');
  return { slice: text(r.slice, 'slice'), topology, ...(endTime ? { endTime } : {}) };
}

/** ListTunnels' filter: an empty field (and state UNSPECIFIED) matches everything. */
export function tunnelFilterFromPb(r: PbTunnelFilter): { node?: string; slice?: string; state?: OperationalState } {
  const q = required(r, 'request');
  const [node, slice] = [text(q.node, 'node'), text(q.slice, 'slice')];
  const state = stateFromPb(q.state, 'state');
  return { ...(node ? { node } : {}), ...(slice ? { slice } : {}), ...(state ? { state } : {}) };
}

// ---- what the Links and Operator services show -------------------------------------------

export function versionToPb(v: ReturnType<Controller['getVersion']>): PbVersion {
  return { api: 'visp.v1', geniApi: 3, software: text(v.software, 'software', badOutput), encapsulations: v.encapsulations.map(encapToPb) };
}

/** A node as ListResources shows it to an aggregate manager. */
export function resourceToPb(n: ReturnType<Controller['listResources']>[number], at: string | number = 'node'): PbNodeResource {
  const f = fieldOf(at, 'nodes');
  return {
    name: n.name, connected: n.connected, underlayAddresses: n.underlay,
    encapsulations: n.encapsulations.map((k, i) => encapToPb(k, `${f}.encapsulations[${i}]`)),
    // Dedicated capacity: none (all zero) where the node guarantees nothing.
    ...(n.shapers?.length ? { shapers: n.shapers.map(shaperSupportToPb) } : {}),
    ...(n.capacity ? {
      underlayCapacityBps: count64(n.capacity, `${f}.underlay_capacity_bps`, badOutput),
      availableSendBps: count64(n.available.send, `${f}.available_send_bps`, badOutput), availableReceiveBps: count64(n.available.receive, `${f}.available_receive_bps`, badOutput),
    } : {}),
  };
}

/** A node as ListNodes shows it to an operator. */
export function nodeToPb(n: ReturnType<Controller['listNodes']>[number], at: string | number = 'node'): PbNodeInfo {
  const f = fieldOf(at, 'nodes');
  return {
    name: n.name, connected: n.connected, lastSeen: iso(n.lastSeen, `${f}.last_seen`), underlayAddresses: n.underlay,
    endpoints: count(n.endpoints, `${f}.endpoints`, badOutput), capabilities: n.capabilities.map((c, i) => capabilityToPb(c, `${f}.capabilities[${i}]`)),
    ...(n.shapers?.length ? { shapers: n.shapers.map(shaperSupportToPb) } : {}),
  };
}

/** A slice as ListSlices summarizes it. */
export function sliceToPb(m: Manifest, at: string | number = 'slice'): PbSliceInfo {
  const f = fieldOf(at, 'slices');
  return {
    slice: m.slice, allocationState: allocationToPb(m.allocation, `${f}.allocation_state`), operationalState: stateToPb(m.state, `${f}.operational_state`),
    endTime: iso(m.endTime, `${f}.end_time`), expires: iso(m.expiresAt, `${f}.expires`), links: m.slivers.length,
    ready: m.slivers.filter((s) => s.state === 'ready').length, failed: m.slivers.filter((s) => s.state === 'failed').length,
  };
}

/** One endpoint of a sliver as ListTunnels and GetTunnel show it. */
export function tunnelToPb(t: TunnelView, at: string | number = 'tunnel'): PbTunnel {
  const f = fieldOf(at, 'tunnels');
  const n64 = (v: number, k: string): number => count64(v, `${f}.${k}`, badOutput);
  return {
    sliver: sliverId(t.slice, t.link), slice: t.slice, link: t.link, node: t.node, encapsulation: encapToPb(t.kind, `${f}.encapsulation`),
    key: count(t.key, `${f}.key`, badOutput), local: t.local, remotes: t.remotes, bridge: t.bridge ?? '', devices: t.devices, netns: t.netns,
    ifname: t.ifname, addresses: t.addresses, state: stateToPb(t.state, `${f}.state`), error: t.error ?? '',
    rxPackets: n64(t.rxPackets, 'rx_packets'), txPackets: n64(t.txPackets, 'tx_packets'), rxBytes: n64(t.rxBytes, 'rx_bytes'), txBytes: n64(t.txBytes, 'tx_bytes'),
    dataplane: t.dataplane ?? '', health: (t.health ?? []).map(pathHealthToPb),
  };
}

/** One pair's health, on the wire (Tunnel.health, EndpointReport.health). */
export function pathHealthToPb(h: PathHealth): PbPathHealth {
  return {
    remote: h.remote, device: h.device, state: h.alive === undefined ? 'OPERATIONAL_STATE_UNSPECIFIED' : h.alive ? 'OPERATIONAL_STATE_READY' : 'OPERATIONAL_STATE_DOWN',
    rttP50Ms: h.rttP50Ms ?? 0, rttP99Ms: h.rttP99Ms ?? 0, loss: h.loss, sent: h.sent, answered: h.answered, reason: h.reason ?? '',
  };
}

/** One pair's health from an agent's report. */
export function pathHealthFromPb(x: unknown, f: string): PathHealth {
  const h = required(x, f);
  const state = stateFromPb(h.state, `${f}.state`);
  if (state !== undefined && state !== 'ready' && state !== 'down') throw badInput(`${f}.state`, `a pair is ready, down or unspecified, not ${state}`);
  const num = (k: string, name: string): number => {
    const v = h[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw badInput(`${f}.${name}`, `${shown(v)} is not a non-negative number`);
    return v;
  };
  const answered = count(h.answered, `${f}.answered`);
  const reason = text(h.reason, `${f}.reason`);
  return {
    remote: text(h.remote, `${f}.remote`), device: text(h.device, `${f}.device`), alive: state === undefined ? undefined : state === 'ready',
    ...(answered ? { rttP50Ms: num('rttP50Ms', 'rtt_p50_ms'), rttP99Ms: num('rttP99Ms', 'rtt_p99_ms') } : {}),
    loss: Math.min(1, num('loss', 'loss')), sent: count(h.sent, `${f}.sent`), answered, ...(reason ? { reason } : {}),
  };
}

/** A controller event for WatchEvents; an event about no sliver has state UNSPECIFIED. */
export function eventToPb(e: ControllerEvent): PbEvent {
  return {
    time: iso(e.time), kind: e.kind, slice: e.slice ?? '', link: e.link ?? '', node: e.node ?? '',
    state: e.state ? stateToPb(e.state) : 'OPERATIONAL_STATE_UNSPECIFIED', message: e.message,
  };
}

/** What one node's agent would do for a Plan. */
export function nodePlanToPb(n: Awaited<ReturnType<Controller['plan']>>['nodes'][number], at: string | number = 'node'): PbNodePlan {
  const f = fieldOf(at, 'nodes');
  return { node: n.node, steps: texts(n.steps, `${f}.steps`, badOutput), error: n.error ?? '' };
}

// ---- the Agent stream ---------------------------------------------------------------

const shapersOf = (s: ShaperSupport[]): { shapers?: ShaperSupport[] } => (s.length ? { shapers: s } : {});

/** Register, as the controller takes it. `node` is '' when the agent leaves its name to its certificate. */
export function registerFromPb(v: PbRegisterIn | null | undefined, field = 'register'): Parameters<Controller['agentConnected']>[0] {
  const r = required(v, field);
  const reserved = message(r.reservedNamespaces, `${field}.reserved_namespaces`);
  const mtus = Object.entries(message(r.underlayMtus, `${field}.underlay_mtus`) ?? {});
  return {
    node: text(r.node, `${field}.node`), underlay: texts(r.underlayAddresses, `${field}.underlay_addresses`),
    capabilities: list(r.capabilities, `${field}.capabilities`, capabilityFromPb),
    ...(reserved ? { reservedNamespaces: texts(reserved.names, `${field}.reserved_namespaces.names`) } : {}),
    underlayMtu: Object.fromEntries(mtus.map(([a, n]) => [a, count(n, `${field}.underlay_mtus[${shown(a)}]`)])),
    ...shapersOf(shapersFromPb(r.shapers, `${field}.shapers`)),
    ...(r.underlayCapacityBps ? { underlayCapacity: count64(r.underlayCapacityBps, `${field}.underlay_capacity_bps`) } : {}),
  };
}

/** Register, as the agent sends it. */
export function registerToPb(node: string, id: Awaited<ReturnType<AgentCore['identity']>>, reserved: string[], version: string): PbRegister {
  return {
    node, underlayAddresses: id.underlay, underlayMtus: id.underlayMtu, version,
    capabilities: id.capabilities.map((c, i) => capabilityToPb(c, `register.capabilities[${i}]`)), reservedNamespaces: { names: reserved },
    ...(id.shapers?.length ? { shapers: id.shapers.map(shaperSupportToPb) } : {}),
    ...(id.underlayCapacity ? { underlayCapacityBps: count64(id.underlayCapacity, 'register.underlay_capacity_bps', badOutput) } : {}),
  };
}

/** A report, as the controller takes it. An endpoint's state UNSPECIFIED reads as configuring. */
export function reportFromPb(v: PbReportIn | null | undefined, field = 'report'): Parameters<Controller['agentReport']>[1] {
  const r = required(v, field);
  const reserved = message(r.reservedNamespaces, `${field}.reserved_namespaces`);
  const egress = statusFromPb(r.egress, `${field}.egress`);
  return {
    generation: count64(r.generation, `${field}.generation`), repairs: texts(r.repairs, `${field}.repairs`), tornDown: texts(r.tornDown, `${field}.torn_down`),
    ...(reserved ? { reservedNamespaces: texts(reserved.names, `${field}.reserved_namespaces.names`) } : {}),
    ...(egress ? { egress } : {}),
    endpoints: list(r.endpoints, `${field}.endpoints`, endpointReportFromPb),
  };
}

/** One endpoint of a report (`f` names it); a big node's report is converted endpoint by endpoint (bulk-decode.ts). */
export function endpointReportFromPb(x: unknown, f: string): EndpointReport {
  const e = required(x, f);
  const s = (k: string, name = k): string => text(e[k], `${f}.${name}`);
  const n64 = (k: string, name: string): number => count64(e[k], `${f}.${name}`);
  const [error, bridge, dataplane] = [s('error'), s('bridge'), s('dataplane')];
  return {
    slice: s('slice'), link: s('link'), state: stateFromPb(e.state, `${f}.state`) ?? 'configuring', ...(error ? { error } : {}), ...(bridge ? { bridge } : {}),
    devices: texts(e.devices, `${f}.devices`), rxPackets: n64('rxPackets', 'rx_packets'), txPackets: n64('txPackets', 'tx_packets'),
    rxBytes: n64('rxBytes', 'rx_bytes'), txBytes: n64('txBytes', 'tx_bytes'), ...(dataplane ? { dataplane } : {}),
    ...(Array.isArray(e.health) && e.health.length ? { health: list(e.health, `${f}.health`, pathHealthFromPb) } : {}),
  };
}

/** A report, as the agent sends it; without reserved namespaces when they are unchanged (undefined: the field is absent). */
export function reportToPb(r: Omit<Report, 'reservedNamespaces'> & { reservedNamespaces: string[] | undefined }, field = 'report'): PbReport {
  return {
    generation: count64(r.generation, `${field}.generation`, badOutput), repairs: r.repairs, tornDown: r.tornDown,
    egress: statusToPb(r.egress, `${field}.egress`), ...(r.reservedNamespaces ? { reservedNamespaces: { names: r.reservedNamespaces } } : {}),
    endpoints: r.endpoints.map((e, i) => ({ ...e, state: stateToPb(e.state, `${field}.endpoints[${i}].state`), error: e.error ?? '', bridge: e.bridge ?? '', health: (e.health ?? []).map(pathHealthToPb) })),
  };
}

/** A node's desired state, as the controller sends it. */
export function desiredStateToPb(d: DesiredState, field = 'desired', requestId?: string): PbDesiredState {
  return {
    generation: count64(d.generation, `${field}.generation`, badOutput), endpoints: d.endpoints.map((e, i) => endpointToPb(e, `${field}.endpoints[${i}]`)),
    teardowns: d.teardowns, egress: desiredToPb(d.egress, `${field}.egress`), ...(requestId ? { requestId } : {}),
  };
}

/** A node's desired state, as the agent takes it. */
export function desiredStateFromPb(v: PbDesiredStateIn | null | undefined, field = 'desired'): Desired {
  const d = required(v, field);
  const egress = desiredFromPb(d.egress, `${field}.egress`);
  const requestId = text(d.requestId, `${field}.request_id`);
  return {
    ...(requestId ? { requestId } : {}),
    generation: count64(d.generation, `${field}.generation`),
    endpoints: list(d.endpoints, `${field}.endpoints`, endpointFromPb),
    teardowns: list(d.teardowns, `${field}.teardowns`, (x, f) => {
      const t = required(x, f);
      return { slice: text(t.slice, `${f}.slice`), group: count(t.group, `${f}.group`), namespaces: texts(t.namespaces, `${f}.namespaces`) };
    }),
    ...(egress ? { egress } : {}),
  };
}

/** A plan query (what would these endpoints take?), controller → agent. */
export const planQueryToPb = (id: number, endpoints: readonly DesiredEndpoint[]): PbPlanQuery =>
  ({ id, endpoints: endpoints.map((e, i) => endpointToPb(e, `plan.endpoints[${i}]`)) });

export function planQueryFromPb(v: PbPlanQueryIn | null | undefined, field = 'plan'): { id: number; endpoints: DesiredEndpoint[] } {
  const q = required(v, field);
  return { id: count64(q.id, `${field}.id`), endpoints: list(q.endpoints, `${field}.endpoints`, endpointFromPb) };
}

/** A plan's answer, agent → controller. */
export const planResultToPb = (id: number, reply: PlanReply): PbPlanResult =>
  ({ id, endpoints: reply.endpoints.map((e) => ({ slice: e.slice, link: e.link, steps: e.steps, error: e.error ?? '' })) });

export function planResultFromPb(v: PbPlanResultIn | null | undefined, field = 'plan_result'): { id: number; reply: PlanReply } {
  const r = required(v, field);
  return {
    id: count64(r.id, `${field}.id`),
    reply: { endpoints: list(r.endpoints, `${field}.endpoints`, (x, f) => {
      const e = required(x, f);
      const error = text(e.error, `${f}.error`);
      return { slice: text(e.slice, `${f}.slice`), link: text(e.link, `${f}.link`), steps: texts(e.steps, `${f}.steps`), ...(error ? { error } : {}) };
    }) },
  };
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
    reservations: list(r.reservations, 'reservations', (x, f) => {
      const v = required(x, f, badOutput);
      return { node: text(v.node, `${f}.node`, badOutput), sendBps: count64(v.send, `${f}.send_bps`, badOutput), receiveBps: count64(v.receive, `${f}.receive_bps`, badOutput) };
    }, badOutput),
    scheduled: (m.scheduled ?? []).map((c, i) => scheduledToPb(c, `scheduled[${i}]`)),
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
    guaranteed: l.guaranteed === true,
    endpoints: list(s.endpoints, `${f}.endpoints`, (y, ef) => {
      const e = required(y, ef, badOutput) as unknown as Manifest['slivers'][number]['endpoints'][number];
      const t = (v: unknown, k: string): string => text(v, `${ef}.${k}`, badOutput);
      return {
        node: t(e.node, 'node'), physicalNode: t(e.physicalNode, 'physical_node'), netns: t(e.netns, 'netns'), ifname: t(e.ifname, 'ifname'),
        addresses: texts(e.addresses, `${ef}.addresses`, badOutput), underlayAddress: t(e.underlay, 'underlay_address'),
        remotes: texts(e.remotes, `${ef}.remotes`, badOutput), bridge: t(e.bridge, 'bridge'), tunnels: texts(e.devices, `${ef}.tunnels`, badOutput),
        operationalState: stateToPb(e.state, `${ef}.operational_state`), error: t(e.error, 'error'),
        ...(e.properties ? { properties: propertiesToPb(e.properties, `${ef}.properties`) } : {}),
      };
    }, badOutput),
  };
}
