// Every registered tunnel kind through the same checks: its descriptor is
// complete and consistent, and everything that derives from it agrees with
// it: the API enum, the topology file, validation, placement and the IPAM,
// the agent's endpoint check, visp-engine's command, the kernel codec, the
// API doc's table. A kind registered without one of those fails here
// (docs/adding-a-tunnel-kind.md). No kernel, no root.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rig } from '../../test/ipam/support.js';
import { encapFromPb, encapToPb, endpointFromPb, endpointToPb, kindFromPb, topologyFromPb } from '../api/convert.js';
import { Encapsulation as PB_ENCAPSULATION } from '../api/gen/visp/v1/Encapsulation.js';
import { endpointSpecOf } from '../controller/desired.js';
import type { NodeRecord, SliceRecord, Topology, TopologyLink } from '../controller/model.js';
import { ipamRequest, linkRecords, placeLinks, type PlacementNode } from '../controller/place.js';
import { validateTopology } from '../controller/validate.js';
import { addCommand } from '../dataplane/engine-client.js';
import { resolveEndpoint, type EndpointSpec } from '../endpoint/spec.js';
import { VispError } from '../errors.js';
import { DEFAULT_ID_RANGES, ID_SPACE } from '../ipam/config.js';
import { enumWord, toApiTopology } from '../lab/to-api.js';
import { parseTopology } from '../topology/yaml.js';
import { AUTO_ORDER, kinds, TUNNEL_KINDS } from './kinds.js';
import { drivers, type TunnelKind } from './registry.js';
import { engineSpecOf } from './userspace.js';

const UNDERLAY = { 4: ['198.18.0.1', '198.18.0.2', '198.18.0.3'], 6: ['2001:db8:ffff::1', '2001:db8:ffff::2', '2001:db8:ffff::3'] } as const;
/** The underlay families a kind runs over. */
const familiesOf = (k: TunnelKind): Array<4 | 6> => (kinds[k].family === 0 ? [4, 6] : [kinds[k].family as 4 | 6]);
/** Three physical nodes with both underlay families, supporting exactly these kinds. */
const nodesWith = (supported: readonly TunnelKind[]): Map<string, PlacementNode> => new Map([1, 2, 3].map((i): [string, NodeRecord] => [`n${i}`, {
  name: `n${i}`, underlay: [UNDERLAY[4][i - 1]!, UNDERLAY[6][i - 1]!], lastSeen: 0,
  capabilities: TUNNEL_KINDS.map((k) => ({ kind: k, supported: supported.includes(k) })),
}]));
const ROUTERS: Topology['nodes'] = [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }, { id: 'r3', node: 'n3' }];
const link = (id: string, members: string[], encapsulation: TopologyLink['encapsulation'], extra: Partial<TopologyLink> = {}): TopologyLink =>
  ({ id, members: members.map((node) => ({ node })), encapsulation, addressClass: 'local', ipv4: {}, ...extra });
const yamlLink = (kind: string, members: string[]): string =>
  `name: t\nnodes:\n  r1: n1\n  r2: n2\n  r3: n3\nlinks:\n  - endpoints: [${members.join(', ')}]\n    encapsulation: ${kind}\n`;
const refusal = (f: () => unknown): VispError => {
  try { f(); } catch (e) { expect(e).toBeInstanceOf(VispError); return e as VispError; }
  throw new Error('expected a refusal');
};
const API_DOC = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

describe('the registry', () => {
  it('lists every kind once, under its own name, in a word the IPAM and topology files accept', () => {
    expect(TUNNEL_KINDS).toEqual(Object.keys(drivers));
    for (const k of TUNNEL_KINDS) {
      expect(drivers[k].kind).toBe(k);
      expect(kinds[k]).toBe(drivers[k]);
      // Lower-case letters and digits: a YAML word, and an IPAM underlay pair space name.
      expect(k).toMatch(/^[a-z][a-z0-9]*$/);
    }
  });

  it('every value of the API enum but UNSPECIFIED and AUTO is a registered kind', () => {
    const named = new Map(TUNNEL_KINDS.map((k) => [kinds[k].proto as string, k]));
    for (const v of Object.keys(PB_ENCAPSULATION)) {
      if (v === 'ENCAPSULATION_UNSPECIFIED' || v === 'ENCAPSULATION_AUTO') {
        expect(encapFromPb(v, 'e')).toBe('auto');
        continue;
      }
      expect(named.get(v), `${v} has no registered kind (src/tunnel/registry.ts)`).toBeDefined();
      expect(encapFromPb(v, 'e')).toBe(named.get(v));
    }
  });

  it("auto's order is the drivers' autoRank (distinct), layer 2 only", () => {
    const ranked = TUNNEL_KINDS.filter((k) => kinds[k].autoRank !== undefined);
    expect(new Set(ranked.map((k) => kinds[k].autoRank)).size).toBe(ranked.length);
    expect([...AUTO_ORDER].sort()).toEqual([...ranked].sort());
    expect(AUTO_ORDER.map((k) => kinds[k].autoRank)).toEqual(ranked.map((k) => kinds[k].autoRank).sort((a, b) => a! - b!));
    for (const k of AUTO_ORDER) expect(kinds[k].layer).toBe(2);
  });

  it('docs/adding-a-tunnel-kind.md\'s field table names every fact a driver declares', () => {
    const doc = readFileSync(new URL('../../docs/adding-a-tunnel-kind.md', import.meta.url), 'utf8');
    const listed = new Set(doc.split('\n').filter((l) => l.startsWith('| `')).flatMap((l) => [...l.split('|')[1]!.matchAll(/`(\w+)(?:\([^)]*\))?`/g)].map((m) => m[1]!)));
    // The descriptor's fields (what the rest of visp reads); the codec functions are the walkthrough's own step.
    const fields = new Set(Object.values(drivers).flatMap((d) => Object.keys(d)).filter((k) => typeof (drivers.vxlan as unknown as Record<string, unknown>)[k] !== 'function' || k === 'overhead'));
    expect([...fields].filter((f) => !listed.has(f))).toEqual([]);
  });

  it("docs/api.md's AUTO row names auto's order", () => {
    expect(API_DOC).toContain(`| \`ENCAPSULATION_AUTO\`, or unset | the first of ${AUTO_ORDER.join(', ')} that`);
  });
});

describe.each(TUNNEL_KINDS)('tunnel kind %s', (kind) => {
  const d = drivers[kind];
  const keyed = d.identifier !== 'underlayPair';

  it('has a complete, consistent descriptor', () => {
    expect([2, 3]).toContain(d.layer);
    expect([0, 4, 6]).toContain(d.family);
    expect(['multipoint', 'mesh', 'none']).toContain(d.lan);
    // Layer 3 is point-to-point only; layer 2 always has a way to carry a LAN.
    expect(d.lan === 'none').toBe(d.layer === 3);
    expect(['greKey', 'vni', 'underlayPair']).toContain(d.identifier);
    const { first, last } = d.keys;
    expect(Number.isInteger(first) && Number.isInteger(last) && first >= 0 && first <= last).toBe(true);
    if (!keyed) {
      expect(d.keys).toEqual({ first: 0, last: 0 });
    } else {
      const space = d.identifier as 'greKey' | 'vni';
      // Whatever an operator may configure, the IPAM hands out only what the agent accepts
      // (the IPAM's space is exactly the kind's), and by default it hands out a part of it.
      expect(d.keys, `IPAM's ${space} space`).toEqual(ID_SPACE[space]);
      for (const r of DEFAULT_ID_RANGES[space]) expect(r.first >= first && r.last <= last, `IPAM's default ${space} range ${r.first}-${r.last}`).toBe(true);
    }
    if (d.udpPort !== undefined) expect(Number.isInteger(d.udpPort) && d.udpPort >= 1 && d.udpPort <= 65535).toBe(true);
    if (d.autoRank !== undefined) expect(Number.isFinite(d.autoRank)).toBe(true);
    // Someone must carry it: the kernel, or visp-engine.
    expect(d.linkKind !== undefined || d.engine !== undefined).toBe(true);
    expect(d.module).not.toBe('');
    for (const f of familiesOf(kind)) {
      // At least the outer IP header, and the inner Ethernet header for layer 2.
      expect(Number.isInteger(d.overhead(f)) && d.overhead(f) >= (f === 6 ? 40 : 20) + (d.layer === 2 ? 14 : 0)).toBe(true);
    }
  });

  it('has its value in the API enum, both ways, named as the CLI shows it', () => {
    expect(Object.keys(PB_ENCAPSULATION), `add ${d.proto} to proto/visp/v1/types.proto`).toContain(d.proto);
    expect(encapToPb(kind)).toBe(d.proto);
    expect(kindFromPb(d.proto, 'e')).toBe(kind);
    // `visp` tables show a kind as the enum name without its prefix, lower case.
    expect(enumWord(d.proto, 'ENCAPSULATION_')).toBe(kind);
  });

  it('round-trips through a topology file and the API request', () => {
    const t = parseTopology(yamlLink(kind, ['r1', 'r2'])).topology;
    expect(t.links[0]!.encapsulation).toBe(kind);
    const api = toApiTopology(t);
    expect(api.links![0]!.encapsulation).toBe(d.proto);
    expect(topologyFromPb(api)!.links[0]!.encapsulation).toBe(kind);
  });

  it(`validation: a LAN and an egress link are ${d.layer === 2 ? 'accepted' : 'refused'} (layer ${d.layer})`, () => {
    const lan: Topology = { nodes: ROUTERS, links: [link('l', ['r1', 'r2', 'r3'], kind)] };
    const egress: Topology = { nodes: ROUTERS, links: [link('e', ['r1'], kind, { addressClass: 'public', egress: { node: 'n9', routes: 'default', defaultRoute: true } })] };
    const endpoint: EndpointSpec = {
      slice: 's', link: 'l', group: 4096, kind, local: UNDERLAY[familiesOf(kind)[0]!][0], remotes: UNDERLAY[familiesOf(kind)[0]!].slice(1),
      key: d.keys.first, netns: 'x', ifname: 'eth1', addresses: [],
    };
    if (d.layer === 2) {
      expect(parseTopology(yamlLink(kind, ['r1', 'r2', 'r3'])).topology.links[0]!.encapsulation).toBe(kind);
      validateTopology(lan);
      validateTopology(egress);
      expect(resolveEndpoint(endpoint).layer).toBe(2);
    } else {
      expect(() => parseTopology(yamlLink(kind, ['r1', 'r2', 'r3']))).toThrow(/point-to-point only/);
      expect(refusal(() => validateTopology(lan))).toMatchObject({ field: 'topology.links[0].encapsulation' });
      expect(refusal(() => validateTopology(egress))).toMatchObject({ field: 'topology.links[0].encapsulation' });
      expect(refusal(() => resolveEndpoint(endpoint))).toMatchObject({ field: 'kind' });
    }
  });

  it('placement asks the IPAM for its identifier; what comes back fits the wire and the agent builds it', async () => {
    const { ipam } = await rig();
    const links = [link('p', ['r1', 'r2'], kind), ...(d.layer === 2 ? [link('l', ['r1', 'r2', 'r3'], kind)] : [])];
    const topo: Topology = { nodes: ROUTERS, links };
    const placed = placeLinks('s', topo, nodesWith([kind]), () => true);
    for (const p of placed) {
      expect(p.ways.map((w) => w.kind)).toEqual(p.ways.map(() => kind));
      for (const w of p.ways) expect(familiesOf(kind)).toContain(w.family);
    }
    const req = ipamRequest('s', placed);
    for (const l of req.links) {
      const first = l.choices?.[0] ?? l;
      if (keyed) expect(first.identifier).toBe(d.identifier);
      else expect(first.pairs?.space).toBe(kind);
    }
    const a = await ipam.allocate(req);
    const records = linkRecords(placed, a);
    records.forEach((r, i) => {
      const la = a.links.find((x) => x.name === r.id)!;
      expect(r.kind).toBe(kind);
      if (keyed) expect(r.key).toBe(la[d.identifier as 'greKey' | 'vni']);
      else expect([r.key, la.pairs?.space]).toEqual([0, kind]);
      expect(r.key >= d.keys.first && r.key <= d.keys.last).toBe(true);
      expect(r.lan).toBe(links[i]!.members.length > 2);
    });
    const slice: SliceRecord = {
      slice: 's', state: 'provisioned', request: topo, endTime: 0, allocatedAt: 0, groupId: a.groupId ?? 4096, blocks: [], links: records, generation: 1,
    };
    for (const r of records) {
      for (const e of r.endpoints) {
        // Controller → agent, through the API, then the agent's own check.
        const spec = endpointFromPb(endpointToPb(endpointSpecOf(slice, r, e)));
        const resolved = resolveEndpoint(spec);
        expect(resolved.layer).toBe(d.layer);
        expect(resolved.tunnels.map((t) => t.kind)).toEqual(resolved.tunnels.map(() => kind));
        expect(resolved.fdb.length > 0).toBe(r.lan && d.lan === 'multipoint');
        expect(resolved.isolate).toBe(r.lan && d.lan === 'mesh');
      }
    }
  });

  it(`auto ${d.autoRank === undefined ? 'never picks it' : 'picks it where it is all the members support'}`, () => {
    const place = (): unknown => placeLinks('s', { nodes: ROUTERS, links: [link('a', ['r1', 'r2'], 'auto')] }, nodesWith([kind]), () => true);
    if (d.autoRank === undefined) expect(place).toThrow(/no encapsulation is available/);
    else expect((place() as ReturnType<typeof placeLinks>)[0]!.ways[0]!.kind).toBe(kind);
  });

  // Checks that apply to a kind only where it has that part (a kernel link kind, an engine kind) are not
  // registered for the others: a kind without the part is not a skipped test.
  if (d.linkKind !== undefined) it('its kernel codec reads back what it writes', () => {
    const [local, remote] = UNDERLAY[familiesOf(kind)[0]!];
    for (const key of [d.keys.first, d.keys.last]) {
      const spec = { name: 'vt-conf', local: local!, remote: remote!, key, ...(d.udpPort !== undefined ? { dstPort: d.udpPort + 1 } : {}) };
      expect(d.decode(Buffer.concat(d.encode(spec)))).toEqual(d.expected(spec));
    }
  });

  if (d.engine !== undefined) it('the userspace engine command for it is one the engine accepts', () => {
    const [local, remote] = UNDERLAY[familiesOf(kind)[0]!];
    const e = engineSpecOf({ kind, name: 'vt-conf', local: local!, remote: remote!, key: d.keys.last });
    expect(e.kind).toBe(d.engine);
    expect(e.key !== undefined).toBe(keyed);
    expect(addCommand(e)).toMatch(new RegExp(`^add name=vt-conf kind=${d.engine} `));
  });

  it("has its row in docs/api.md's Encapsulation table", () => {
    const row = API_DOC.split('\n').find((l) => l.startsWith(`| \`${d.proto}\` |`));
    expect(row, `docs/api.md: add a row for ${d.proto}`).toBeDefined();
    const [, , , layer, underlay, lan] = row!.split('|').map((c) => c.trim());
    expect(layer).toBe(String(d.layer));
    expect(underlay).toBe({ 0: 'IPv4 or IPv6', 4: 'IPv4', 6: 'IPv6' }[d.family]);
    expect(lan!.startsWith('no')).toBe(d.lan === 'none');
    // The MTU paragraph: what the kind leaves of a 1500-byte underlay, per family.
    const mtu = new RegExp(`(?<![a-z0-9])${kind} ([^;)]*)`).exec(API_DOC.slice(API_DOC.indexOf('**MTU.**')));
    expect(mtu, `docs/api.md: the MTU paragraph names ${kind}`).not.toBeNull();
    for (const f of familiesOf(kind)) expect(mtu![1]).toContain(String(1500 - d.overhead(f)));
  });
});
