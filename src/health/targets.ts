// Which endpoints a node probes, and over which devices: every endpoint
// built and up (ready) whose kind can be probed (its driver's healthProbe),
// one pair per remote member, out of the tunnel device that carries traffic
// to that member (a VXLAN's one device for all, a mesh's device per member).
import { resolveEndpoint, type EndpointSpec } from '../endpoint/spec.js';
import { keyWord, kinds } from '../tunnel/kinds.js';
import type { ProbeTarget } from './prober.js';

export function probeTargets(endpoints: ReadonlyArray<{ spec: EndpointSpec; ready: boolean }>): ProbeTarget[] {
  const out: ProbeTarget[] = [];
  for (const { spec, ready } of endpoints) {
    const d = kinds[spec.kind];
    if (!ready || spec.adminDown || !d.healthProbe) continue;
    const r = resolveEndpoint(spec);
    const pairs = r.tunnels.flatMap((t) => (t.remote ? [{ remote: t.remote, device: t.name }] : spec.remotes.map((remote) => ({ remote, device: t.name }))));
    const what = d.identifier === 'underlayPair' ? spec.kind : `${spec.kind} ${keyWord(spec.kind)} ${spec.key}`;
    const loss = spec.properties?.loss;
    out.push({ key: `${spec.slice}/${spec.link}`, local: spec.local, what, pairs, ...(loss ? { configuredLoss: loss } : {}) });
  }
  return out;
}
