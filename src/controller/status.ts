// Operational state, aggregated: an endpoint's state comes from its node's
// latest report, if that report reflects the slice's latest change; a
// sliver is as good as its worst endpoint; a slice as its worst sliver.
import { endpointSpecOf } from './desired.js';
import { endpointNames } from '../endpoint/names.js';
import { joinOf } from '../endpoint/spec.js';
import { kinds } from '../tunnel/kinds.js';
import type { Pacer } from '../ipam/pacer.js';
import type { EndpointStatus, LinkRecord, Manifest, OperationalState, SliceRecord, SliverStatus } from './model.js';
import { sliverId } from './model.js';
import { reservedBy } from './admission.js';
import type { PairHealth as PathHealth } from '../health/pair.js';

export interface EndpointReport {
  slice: string;
  link: string;
  state: OperationalState;
  error?: string;
  bridge?: string;
  devices: string[];
  rxPackets: number; txPackets: number; rxBytes: number; txBytes: number;
  dataplane?: string;
  /** Per remote member, what the node's probes say (absent: not probed). */
  health?: PathHealth[];
}
export type { PathHealth };
export interface NodeReport { generation: number; endpoints: Map<string, EndpointReport>; at: number }

const RANK: Record<OperationalState, number> = { failed: 7, down: 6, pending: 5, configuring: 4, degraded: 3, stopped: 2, ready: 1 };
export function worst(states: readonly OperationalState[]): OperationalState {
  if (!states.length) return 'pending';
  if (states.every((s) => s === 'stopped')) return 'stopped';
  return states.reduce((a, b) => (RANK[b] > RANK[a] && b !== 'stopped' ? b : a), states.find((s) => s !== 'stopped') ?? 'stopped');
}

export function endpointState(s: SliceRecord, link: string, node: string, connected: boolean, report: NodeReport | undefined): { state: OperationalState; error?: string; er?: EndpointReport } {
  if (s.state === 'allocated') return { state: 'pending' };
  if (s.state === 'shutdown') return { state: 'stopped' };
  if (!connected) return { state: 'pending', error: `node ${node} is not connected` };
  if (!report || report.generation < s.generation) return { state: 'configuring' };
  const er = report.endpoints.get(`${s.slice}/${link}`);
  if (!er) return { state: 'configuring' };
  return { state: er.state, ...(er.error ? { error: er.error } : {}), er };
}

/**
 * What an endpoint's status shows that follows from the slice record alone
 * (its bridge, remotes, the devices visp would create). Records are never
 * changed in place (every change is a new record; one that leaves the links
 * alone, as Provision does, keeps their array), so this is computed once per
 * links array: a 10,000-link slice's Status then costs a map lookup per
 * endpoint, not two hashes and a spec.
 */
interface EndpointStatic { bridge?: string; devices: string[]; remotes: string[] }
const STATICS = new WeakMap<readonly LinkRecord[], EndpointStatic[][]>();
/** Manifests that depend on the record alone (allocated and shut-down slices: no agent report counts). */
const WHOLE = new WeakMap<SliceRecord, Manifest>();

function linkStatics(s: SliceRecord, l: LinkRecord): EndpointStatic[] {
  const names = endpointNames(s.slice, l.id);
  const layer3 = kinds[l.kind].layer === 3;
  return l.endpoints.map((e) => {
    const spec = endpointSpecOf(s, l, e);
    const remotes = spec.remotes;
    return {
      // A bridge only where the agent builds one (docs/kernel.md).
      ...(layer3 || joinOf(spec) !== 'bridge' ? {} : { bridge: names.bridge }),
      devices: layer3 ? [e.ifname] : kinds[l.kind].lan === 'multipoint' ? [names.tunnel()] : remotes.map((r) => names.tunnel(r)),
      remotes,
    };
  });
}

function staticsOf(s: SliceRecord): EndpointStatic[][] {
  let st = STATICS.get(s.links);
  if (!st) { st = s.links.map((l) => linkStatics(s, l)); STATICS.set(s.links, st); }
  return st;
}

const dependsOnReports = (s: SliceRecord): boolean => s.state === 'provisioned';

function sliver(s: SliceRecord, l: LinkRecord, st: readonly EndpointStatic[], connected: (n: string) => boolean, report: (n: string) => NodeReport | undefined): SliverStatus {
  const endpoints: EndpointStatus[] = l.endpoints.map((e, j) => {
    const st0 = endpointState(s, l.id, e.physicalNode, connected(e.physicalNode), report(e.physicalNode));
    const x = st[j]!;
    return {
      ...e, state: st0.state, ...(st0.error ? { error: st0.error } : {}),
      ...(x.bridge !== undefined ? { bridge: x.bridge } : {}),
      devices: st0.er?.devices.length ? st0.er.devices : x.devices,
      remotes: x.remotes,
    };
  });
  const state = l.stopped && s.state === 'provisioned' && endpoints.every((e) => e.state === 'ready' || e.state === 'stopped') ? 'stopped' : worst(endpoints.map((e) => e.state));
  const errors = endpoints.filter((e) => e.error).map((e) => `${e.physicalNode}: ${e.error}`);
  return { id: sliverId(s.slice, l.id), link: l, state, ...(errors.length ? { error: errors.join('; ') } : {}), endpoints };
}

function assemble(s: SliceRecord, slivers: SliverStatus[]): Manifest {
  return {
    slice: s.slice,
    allocation: s.state === 'shutdown' ? 'unallocated' : s.state,
    state: worst(slivers.map((x) => x.state)),
    endTime: s.endTime,
    ...(s.expiresAt !== undefined && s.state === 'allocated' ? { expiresAt: s.expiresAt } : {}),
    groupId: s.groupId,
    blocks: s.blocks,
    slivers,
    ...reservationsOf(s),
    ...(s.scheduled?.length ? { scheduled: s.scheduled } : {}),
  };
}

/** What the slice's guaranteed links reserve on each node (none once it is shut down: released). */
function reservationsOf(s: SliceRecord): Pick<Manifest, 'reservations'> {
  if (s.state === 'shutdown') return {};
  const r = [...reservedBy(s.links)].sort(([a], [b]) => a.localeCompare(b)).map(([node, u]) => ({ node, ...u }));
  return r.length ? { reservations: r } : {};
}

/**
 * A slice's manifest. The result may be shared with other callers (it is
 * cached per record where no report counts): treat it as read-only.
 */
export function manifest(s: SliceRecord, connected: (n: string) => boolean, report: (n: string) => NodeReport | undefined): Manifest {
  const whole = WHOLE.get(s);
  if (whole) return whole;
  const st = staticsOf(s);
  const m = assemble(s, s.links.map((l, i) => sliver(s, l, st[i]!, connected, report)));
  if (!dependsOnReports(s)) WHOLE.set(s, m);
  return m;
}

/** manifest(), giving the event loop a turn whenever `pace` says; what it computes is cached for the synchronous one. */
export async function manifestPaced(s: SliceRecord, connected: (n: string) => boolean, report: (n: string) => NodeReport | undefined, pace: Pacer): Promise<Manifest> {
  const whole = WHOLE.get(s);
  if (whole) return whole;
  let st = STATICS.get(s.links);
  if (!st) { st = await pace.map(s.links, (l) => linkStatics(s, l)); STATICS.set(s.links, st); }
  const statics = st;
  const slivers = await pace.map(s.links, (l, i) => sliver(s, l, statics[i]!, connected, report));
  // A turn given away may have let a report in: what is returned is what was read, as a Status at that moment would be.
  const m = assemble(s, slivers);
  if (!dependsOnReports(s)) WHOLE.set(s, m);
  return m;
}
