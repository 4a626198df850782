// Read-only views of the controller's state: the resources an aggregate
// manager sees (ListResources), and the operator's nodes, slices and
// tunnels. Manifests are built in paced stretches (state.ts).
import { Pacer } from '../ipam/pacer.js';
import type { TunnelKind } from '../tunnel/types.js';
import { endpointsFor } from './desired.js';
import type { Manifest, NodeRecord } from './model.js';
import type { ControllerState } from './state.js';
import type { Use } from './admission.js';
import type { PathHealth } from './status.js';

export interface TunnelView {
  slice: string; link: string; node: string; kind: TunnelKind; key: number; local: string; remotes: string[];
  bridge?: string; devices: string[]; netns: string; ifname: string; addresses: string[];
  state: string; error?: string; rxPackets: number; txPackets: number; rxBytes: number; txBytes: number; dataplane?: string;
  /** Per remote member, what the node's probes say (absent: not probed). */
  health?: PathHealth[];
}

export interface ResourceView {
  name: string; connected: boolean; underlay: string[]; encapsulations: TunnelKind[];
  /** What it can shape links with; its underlay's capacity for guaranteed links (0: none) and what is left of it, each way (docs/links.md). */
  shapers: NonNullable<NodeRecord['shapers']>; capacity: number; available: Use;
}

export function listResources(state: ControllerState): ResourceView[] {
  const reserved = state.reservedExcept(undefined);
  return [...state.nodes.values()].sort((a, b) => a.name.localeCompare(b.name)).map((n) => {
    const cap = n.underlayCapacity ?? 0;
    const r = reserved.get(n.name) ?? { send: 0, receive: 0 };
    return {
      name: n.name, connected: state.connected(n.name), underlay: n.underlay,
      encapsulations: n.capabilities.filter((c) => c.supported).map((c) => c.kind),
      shapers: n.shapers ?? [], capacity: cap, available: { send: Math.max(0, cap - r.send), receive: Math.max(0, cap - r.receive) },
    };
  });
}

export function listNodes(state: ControllerState): Array<NodeRecord & { connected: boolean; endpoints: number }> {
  return [...state.nodes.values()].sort((a, b) => a.name.localeCompare(b.name))
    .map((n) => ({ ...n, connected: state.connected(n.name), endpoints: endpointsFor(n.name, state.slices.values()).length }));
}

export async function listSlices(state: ControllerState): Promise<Manifest[]> {
  const pace = new Pacer();
  const out: Manifest[] = [];
  for (const s of [...state.slices.values()].sort((a, b) => a.slice.localeCompare(b.slice))) out.push(await state.manifest(s, pace));
  return out;
}

export interface TunnelFilter { node?: string; slice?: string; state?: string; sliver?: string }

export async function listTunnels(state: ControllerState, f: TunnelFilter = {}): Promise<TunnelView[]> {
  const pace = new Pacer();
  const out: TunnelView[] = [];
  for (const s of [...state.slices.values()]) {
    if (f.slice && s.slice !== f.slice) continue;
    const m = await state.manifest(s, pace);
    for (const sl of m.slivers) {
      if (pace.due()) await pace.pause();
      if (f.sliver && sl.id !== f.sliver) continue;
      for (const e of sl.endpoints) {
        if (f.node && e.physicalNode !== f.node) continue;
        if (f.state && e.state !== f.state) continue;
        const er = state.reports.get(e.physicalNode)?.endpoints.get(`${s.slice}/${sl.link.id}`);
        out.push({
          slice: s.slice, link: sl.link.id, node: e.physicalNode, kind: sl.link.kind, key: sl.link.key, local: e.underlay, remotes: e.remotes,
          ...(e.bridge ? { bridge: e.bridge } : {}), devices: e.devices, netns: e.netns, ifname: e.ifname, addresses: e.addresses,
          state: e.state, ...(e.error ? { error: e.error } : {}),
          rxPackets: er?.rxPackets ?? 0, txPackets: er?.txPackets ?? 0, rxBytes: er?.rxBytes ?? 0, txBytes: er?.txBytes ?? 0,
          ...(er?.dataplane ? { dataplane: er.dataplane } : {}),
          ...(er?.health?.length && e.state !== 'pending' && e.state !== 'configuring' ? { health: er.health } : {}),
        });
      }
    }
  }
  return out;
}
