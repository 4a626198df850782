// Operational state, aggregated: an endpoint's state comes from its node's
// latest report, if that report reflects the slice's latest change; a
// sliver is as good as its worst endpoint; a slice as its worst sliver.
import { endpointSpecOf } from './desired.js';
import { endpointNames } from '../endpoint/names.js';
import { drivers } from '../tunnel/registry.js';
import type { EndpointStatus, Manifest, OperationalState, SliceRecord, SliverStatus } from './model.js';
import { sliverId } from './model.js';

export interface EndpointReport {
  slice: string;
  link: string;
  state: OperationalState;
  error?: string;
  bridge?: string;
  devices: string[];
  rxPackets: number; txPackets: number; rxBytes: number; txBytes: number;
  dataplane?: string;
}
export interface NodeReport { generation: number; endpoints: Map<string, EndpointReport>; at: number }

const RANK: Record<OperationalState, number> = { failed: 5, pending: 4, configuring: 3, stopped: 2, ready: 1 };
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

export function manifest(s: SliceRecord, connected: (n: string) => boolean, report: (n: string) => NodeReport | undefined): Manifest {
  const slivers: SliverStatus[] = s.links.map((l) => {
    const endpoints: EndpointStatus[] = l.endpoints.map((e) => {
      const st = endpointState(s, l.id, e.physicalNode, connected(e.physicalNode), report(e.physicalNode));
      const names = endpointNames(s.slice, l.id);
      const spec = endpointSpecOf(s, l, e);
      const layer3 = drivers[l.kind].layer === 3;
      return {
        ...e, state: st.state, ...(st.error ? { error: st.error } : {}),
        ...(layer3 ? {} : { bridge: names.bridge }),
        devices: st.er?.devices.length ? st.er.devices : layer3 ? [e.ifname] : drivers[l.kind].multipoint ? [names.tunnel()] : spec.remotes.map((r) => names.tunnel(r)),
        remotes: spec.remotes,
      };
    });
    const state = l.stopped && s.state === 'provisioned' && endpoints.every((e) => e.state === 'ready' || e.state === 'stopped') ? 'stopped' : worst(endpoints.map((e) => e.state));
    const errors = endpoints.filter((e) => e.error).map((e) => `${e.physicalNode}: ${e.error}`);
    return { id: sliverId(s.slice, l.id), link: l, state, ...(errors.length ? { error: errors.join('; ') } : {}), endpoints };
  });
  return {
    slice: s.slice,
    allocation: s.state === 'shutdown' ? 'unallocated' : s.state,
    state: worst(slivers.map((x) => x.state)),
    endTime: s.endTime,
    ...(s.expiresAt !== undefined && s.state === 'allocated' ? { expiresAt: s.expiresAt } : {}),
    groupId: s.groupId,
    blocks: s.blocks,
    slivers,
  };
}
