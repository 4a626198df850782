import { describe, expect, it } from 'vitest';
import { AlreadyExistsError, InvalidSpecError } from '../errors.js';
import type { NodeRecord, SliceRecord, Topology } from './model.js';
import { checkNamespaces } from './namespaces.js';
import { placeLinks, type PlacedLink } from './place.js';

const node = (name: string, underlay: string): NodeRecord => ({ name, underlay: [underlay], lastSeen: 0, capabilities: [{ kind: 'vxlan', supported: true }] });
const nodes = new Map([['n1', node('n1', '198.18.0.1')], ['n2', node('n2', '198.18.0.2')], ['eg', node('eg', '198.18.0.9')]]);
const all = (): boolean => true;

/** Routers r1 on n1 and r2 on n2 (each with the netns given, if any), one link between them. */
const topo = (ns1?: string, ns2?: string, more: Partial<Topology> = {}): Topology => ({
  nodes: [{ id: 'r1', node: 'n1', ...(ns1 ? { netns: ns1 } : {}) }, { id: 'r2', node: 'n2', ...(ns2 ? { netns: ns2 } : {}) }],
  links: [{ id: 'l1', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'vxlan', addressClass: 'local', ipv4: {} }],
  ...more,
});
const place = (slice: string, t: Topology): PlacedLink[] => placeLinks(slice, t, nodes, all, new Set(['eg']));

/** A slice as the controller holds it (what checkNamespaces reads of it: its endpoints' namespaces). */
function held(slice: string, t: Topology): SliceRecord {
  return {
    slice, state: 'provisioned', request: t, endTime: 0, allocatedAt: 0, groupId: 1, blocks: [], generation: 1,
    links: place(slice, t).map((p) => ({
      id: p.link.id, kind: p.kind, key: 1, mtu: 1450, lan: false, addressClass: 'local', stopped: false, restart: 0,
      endpoints: p.members.map((m) => ({ ...m, addresses: [] })),
    })),
  };
}

const check = (slice: string, t: Topology, existing: SliceRecord[] = [], reserved: Record<string, string[]> = {}): void =>
  checkNamespaces(slice, t, place(slice, t), existing, new Map(Object.entries(reserved)));

describe('checkNamespaces', () => {
  const victim = held('victim', topo('lab-exp'));

  it.each<[string, () => void]>([
    ['derived names, nothing else on the testbed', () => check('s', topo())],
    ['named namespaces, free', () => check('s', topo('mine-1', 'mine-2'), [victim], { n1: ['vl-lab-n1'], n2: ['vl-lab-n2'] })],
    ['a name reserved on another node only', () => check('s', topo('vl-lab-n2'), [], { n2: ['vl-lab-n2'] })],
    ['a node that never reported', () => check('s', topo('anything'), [], {})],
    ['an egress link (its egress end has no namespace)', () => check('s', topo(undefined, undefined, {
      links: [{ id: 'out', members: [{ node: 'r1' }], encapsulation: 'vxlan', addressClass: 'local', ipv4: {}, egress: { node: 'eg', routes: 'default', defaultRoute: true } }],
    }), [victim], { eg: [''] })],   // the egress end's empty netns is never checked
  ])('allows %s', (_n, run) => {
    expect(run).not.toThrow();
  });

  it.each<[string, () => void, typeof InvalidSpecError | typeof AlreadyExistsError, string, RegExp]>([
    ["another slice's named namespace", () => check('mallory', topo(undefined, 'lab-exp'), [victim]),
      AlreadyExistsError, 'topology.nodes[1].netns', /^topology\.nodes\[1\]\.netns: namespace "lab-exp" is taken; choose another name$/],
    ["another slice's derived namespace (held by name, wherever it is)", () => check('mallory', topo(place('victim2', topo())[0]!.members[0]!.netns), [held('victim2', topo())]),
      AlreadyExistsError, 'topology.nodes[0].netns', /is taken/],
    ["the node's own underlay namespace", () => check('s', topo('vl-lab-n1'), [], { n1: ['vl-lab-n1', 'other'] }),
      AlreadyExistsError, 'topology.nodes[0].netns', /^topology\.nodes\[0\]\.netns: namespace "vl-lab-n1" exists on node n1 and is the node's own \(its underlay namespace, or one visp did not create\); visp never uses it$/],
    ['a namespace on the node that visp did not create, under the name visp would derive', () => check('s', topo(), [], { n2: [place('s', topo())[0]!.members[1]!.netns] }),
      AlreadyExistsError, 'topology.nodes[1].netns', /\(the name visp gives router "r2"\) exists on node n2/],
    ['two routers of the slice in one namespace', () => check('s', topo('same', 'same')),
      InvalidSpecError, 'topology.nodes[1].netns', /namespace "same" is already used by router "r1" of this slice/],
    ['its own earlier allocation (may be named: it is the caller\'s)', () => check('victim', topo('lab-exp'), [victim]),
      AlreadyExistsError, 'topology.nodes[0].netns', /is already used by slice "victim"/],
  ])('refuses %s', (_n, run, cls, field, message) => {
    let err: unknown;
    try { run(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(cls);
    expect((err as InvalidSpecError).field).toBe(field);
    expect((err as Error).message).toMatch(message);
  });

  it("never names another tenant's slice", () => {
    const secret = held('secret-project-x', topo('lab-exp'));
    expect(() => check('mallory', topo('lab-exp'), [secret])).toThrow(AlreadyExistsError);
    try { check('mallory', topo('lab-exp'), [secret]); } catch (e) { expect((e as Error).message).not.toContain('secret'); }
  });
});
