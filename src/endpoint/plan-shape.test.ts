// Planning a link's shapers (docs/links.md), without a kernel: a new tunnel
// device gets them right after it is created; an existing one is compared
// with its qdiscs when the node's qdiscs were read, and left alone when they
// were not; a layer-3 endpoint refuses properties.
import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import { IFF } from '../netlink/constants.js';
import { joinedRules } from '../bridge/redirect.js';
import { ANCHOR, ANCHOR_ALIAS } from '../bridge/anchor.js';
import type { Qdisc } from '../netlink/tc.js';
import { qdiscSpecOf, shaperFor } from '../shape/tree.js';
import { drivers } from '../tunnel/index.js';
import { planEndpoint } from './plan.js';
import { addLink, emptyView, type NsView } from './snapshot.js';
import { resolveEndpoint, type EndpointSpec } from './spec.js';
import { expectRefused } from '../../test/helpers/refused.js';

const spec: EndpointSpec = {
  slice: 's1', link: 'l1', group: 1001, kind: 'vxlan', key: 4711, local: '198.18.0.1', remotes: ['198.18.0.2'],
  netns: 'exp', ifname: 'eth1', addresses: ['192.0.2.0/31'], properties: { capacity: 10e6 },
};

/** The node as a correct apply left it, with `qdiscs` on the tunnel (index 11); undefined: not read. */
function node(s: EndpointSpec, qdiscs: Qdisc[] | undefined): { node: NsView; exp: NsView } {
  const r = resolveEndpoint(s);
  const up = { flags: IFF.UP, up: true, mtu: r.mtu, alias: 'visp:s1/l1', group: 1001 };
  const n = emptyView(), x = emptyView();
  const t = r.tunnels[0]!;
  addLink(n, { index: 9, name: ANCHOR, kind: 'bridge', flags: 0, up: false, alias: ANCHOR_ALIAS });
  addLink(n, { index: 11, name: t.name, kind: 'vxlan', master: 9, infoData: Buffer.concat(drivers.vxlan.encode(t)), ...up });
  addLink(n, { index: 20, name: r.vethHost, kind: 'veth', link: 5, ...up });
  n.ingress = new Map([[11, joinedRules(20)], [20, joinedRules(11)]]);
  addLink(x, { index: 5, name: 'eth1', kind: 'veth', link: 20, ...up });
  x.addrs.set(5, ['192.0.2.0/31']);
  if (qdiscs) n.qdiscs = new Map([[11, qdiscs]]);
  return { node: n, exp: x };
}
const asRead = (s: EndpointSpec): Qdisc[] => shaperFor(s.properties, resolveEndpoint(s).mtu).map((q) => {
  const x = qdiscSpecOf(q, 11);
  return { index: 11, parent: x.parent, handle: x.handle, kind: x.kind, ...(x.options ? { options: x.options } : {}) };
});

describe('planning shapers', () => {
  it('a new tunnel is shaped right after it is created', () => {
    const steps = planEndpoint(resolveEndpoint(spec), emptyView(), emptyView());
    expect(steps.map((s) => s.op)).toEqual(['create-anchor', 'create-tunnel', 'shape', 'create-veth', 'join', 'join', 'add-addr']);
  });

  it('as wanted: nothing; qdiscs not read: not checked', () => {
    const r = resolveEndpoint(spec);
    const a = node(spec, asRead(spec));
    expect(planEndpoint(r, a.node, a.exp)).toEqual([]);
    const b = node(spec, undefined);
    expect(planEndpoint(r, b.node, b.exp)).toEqual([]);
  });

  it('a shaper gone, or another rate: one step that says why; unshaped wanted: its removal', () => {
    const r = resolveEndpoint(spec);
    const gone = node(spec, [{ index: 11, parent: 0xffffffff, handle: 0, kind: 'noqueue' }]);
    expect(planEndpoint(r, gone.node, gone.exp)).toMatchObject([{ op: 'shape', device: r.tunnels[0]!.name, why: 'no tbf at the root', rebuild: false }]);
    const other = node(spec, asRead({ ...spec, properties: { capacity: 20e6 } }));
    expect(planEndpoint(r, other.node, other.exp)[0]).toMatchObject({ op: 'shape', why: expect.stringMatching(/^tbf 1: rate 20000000 → 10000000 bit\/s/) });
    const bare = { ...spec };
    delete bare.properties;
    const left = node(bare, asRead(spec));
    expect(planEndpoint(resolveEndpoint(bare), left.node, left.exp)).toMatchObject([{ op: 'shape', shaper: [], why: expect.stringMatching(/tbf 1: at the root, and the link asks for no shaping/) }]);
  });

  it('properties are checked like every other field; a layer-3 endpoint refuses them', () => {
    expectRefused(() => resolveEndpoint({ ...spec, properties: { loss: 2 } }), InvalidSpecError, 'properties.loss');
    expectRefused(() => resolveEndpoint({ ...spec, kind: 'gre' }), InvalidSpecError, 'properties', /gre is layer 3/);
  });
});
