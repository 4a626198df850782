// Views the renderers' tests draw: every shape a picture has (a ring, a LAN,
// an egress link, parallel links, every state, a measured RTT, names that
// need escaping in each format).
import type { GraphView } from '../../src/graph/view.js';

export const RING: GraphView = {
  slice: 'demo',
  state: 'failed',
  routers: [
    { id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }, { id: 'r3', node: 'n3' }, { id: 'r4', node: 'n4' },
    { id: 'egress:egr', node: 'egr', egress: true },
  ],
  links: [
    { id: 'r1r2', encapsulation: 'vxlan', state: 'ready', ends: [{ router: 'r1', state: 'ready' }, { router: 'r2', state: 'ready' }], rtt: { p50Ms: 0.214, p99Ms: 0.5 } },
    { id: 'r2r3', encapsulation: 'gre', state: 'failed', error: 'interface vt1 exists and is not owned by visp', ends: [{ router: 'r2', state: 'ready' }, { router: 'r3', state: 'failed', error: 'interface vt1 exists and is not owned by visp' }] },
    { id: 'r3r4', encapsulation: 'etherip', state: 'configuring', ends: [{ router: 'r3', state: 'configuring' }, { router: 'r4', state: 'ready' }] },
    { id: 'r4r1', encapsulation: 'vxlan', state: 'stopped', ends: [{ router: 'r4', state: 'stopped' }, { router: 'r1', state: 'stopped' }] },
    { id: 'r4r1-b', encapsulation: 'gretap', state: 'ready', ends: [{ router: 'r4', state: 'ready' }, { router: 'r1', state: 'ready' }] },
    { id: 'lan', encapsulation: 'vxlan', state: 'failed', ends: [{ router: 'r1', state: 'ready' }, { router: 'r2', state: 'failed' }, { router: 'r3', state: 'ready' }] },
    { id: 'up', encapsulation: 'vxlan', state: 'ready', ends: [{ router: 'r1', state: 'ready' }, { router: 'egress:egr', state: 'ready' }] },
  ],
};

/** Ids with every character visp allows that some format must quote, and a Mermaid keyword. */
export const AWKWARD: GraphView = {
  slice: 'a.b_c-1',
  state: 'ready',
  routers: [{ id: 'end', node: 'node.1' }, { id: 'graph', node: 'n-2' }, { id: 'r_3', node: 'n3' }],
  links: [
    { id: 'end-graph', encapsulation: 'vxlan', state: 'ready', ends: [{ router: 'end', state: 'ready' }, { router: 'graph', state: 'ready' }] },
    { id: 'x.y', encapsulation: 'gre', state: 'degraded', error: 'quote " and <tag> & back\\slash', ends: [{ router: 'graph', state: 'degraded' }, { router: 'r_3', state: 'down', error: 'a "reason"' }] },
  ],
};

export const EMPTY: GraphView = { slice: 'nothing', state: 'pending', routers: [], links: [] };
export const SOLO: GraphView = { slice: 'one', state: 'ready', routers: [{ id: 'r1', node: 'n1' }], links: [] };
