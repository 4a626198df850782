// EtherIP (RFC 3378) has no key: two EtherIP links between the same two
// underlay addresses cannot be told apart on the wire (visp-engine
// demultiplexes by the remote address alone). Through the API, as an
// aggregate manager would:
// - two EtherIP links between one pair of nodes: the second takes the other
//   underlay address (IPv6); both come up READY and carry pings;
// - another slice asking for EtherIP on those nodes is refused at Allocate,
//   and Plan predicts it: FAILED_PRECONDITION on
//   topology.links[i].encapsulation, the holder not named. Not
//   INVALID_ARGUMENT: the request is valid, and is met once the holder is
//   gone (and its pair has cooled down); INVALID_ARGUMENT is for a request
//   that can never be met as it is: three EtherIP links of one slice on a
//   pair with two addresses, which names the link that holds it;
// - the same slice with `auto` comes up READY (on these nodes auto's first
//   choice, VXLAN, is free anyway), and EtherIP on another pair is unaffected;
// - once the holder is deleted, its pair cools down: refused with when it
//   frees (visp-frees-at, visp-retry-after-ms).
import { status, type ServiceError } from '@grpc/grpc-js';
import { rmSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineProcess } from '../../src/dataplane/engine-process.js';
import { kernelSkipReason, sh } from '../helpers/netns.js';
import { AgentProcesses, Lab, p2p, pingNeighbours, waitFor, type Manifest, type Topology, type TopologyLink } from './support.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const ETHERIP = { encapsulation: 'ENCAPSULATION_ETHERIP' } as const;
const AUTO = { encapsulation: 'ENCAPSULATION_AUTO' } as const;

describe.skipIf(kernelSkipReason)('e2e: one EtherIP link per underlay address pair', () => {
  // Agents as processes in their node namespaces (as on a testbed node), each with its visp-engine.
  const lab = new Lab('eip', ['n1', 'n2', 'n3'], { agents: [] });
  const agents = new AgentProcesses(lab);
  /** The engine of a node: an agent not in a named namespace names it by the namespace's inode. */
  const engineOf = (node: string): EngineProcess => new EngineProcess({ netns: `ns${statSync(`/run/netns/${lab.node(node).ns}`).ino}`, enter: false });
  const S = (n: string): string => lab.slice(n);
  const topo = (...links: TopologyLink[]): Topology => ({ nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }, { id: 'r3', node: 'n3' }], links });
  const refusal = async (p: Promise<unknown>): Promise<ServiceError> => {
    const err = await p.then(() => undefined, (e: ServiceError) => e);
    expect(err, 'expected a refusal').toBeDefined();
    return err!;
  };
  const slices = async (): Promise<string[]> => (await lab.api.operator.listSlices({})).slices.map((s) => s.slice).sort();
  const underlays = (m: Manifest, link: string): string[] => m.slivers.find((s) => s.link === link)!.endpoints.map((e) => e.underlayAddress);

  beforeAll(async () => {
    sh('bash', [`${REPO}/scripts/build-engine.sh`]);
    await lab.start();
    await Promise.all(lab.nodes.map((n) => agents.start(n.name)));
    await lab.waitConnected(['n1', 'n2', 'n3']);
  });
  afterAll(async () => {
    for (const s of await slices().catch(() => [])) await lab.api.links.delete({ slice: s }).catch(() => undefined);
    await waitFor('the slices torn down', () => lab.experimentNamespaces().length === 0, 15_000).catch(() => undefined);
    await agents.stopAll();
    for (const n of lab.nodes) {
      const e = engineOf(n.name);
      if (await e.adopt()) await e.stop();
      rmSync(e.logPath, { force: true });
    }
    await lab.close();
  });

  it('two EtherIP links between n1 and n2: IPv4, then the other underlay address; both READY and carrying pings', async () => {
    await lab.api.links.allocate({ slice: S('a'), topology: topo(p2p('a1', 'r1', 'r2', ETHERIP), p2p('a2', 'r2', 'r1', ETHERIP)) });
    await lab.api.links.provision({ slice: S('a') });
    const m = await lab.waitState(S('a'), 'OPERATIONAL_STATE_READY', 30_000);
    const [n1, n2] = [lab.node('n1'), lab.node('n2')];
    expect(underlays(m, 'a1')).toEqual([n1.v4, n2.v4]);
    expect(underlays(m, 'a2')).toEqual([n2.v6, n1.v6]);
    expect(m.slivers.map((s) => s.encapsulation)).toEqual(['ENCAPSULATION_ETHERIP', 'ENCAPSULATION_ETHERIP']);
    expect(await pingNeighbours(m)).toEqual([]);
  });

  it('another slice asking for EtherIP on the taken pair: Allocate and Plan refuse it with FAILED_PRECONDITION, nothing allocated', async () => {
    const before = await slices();
    const t = topo(p2p('x', 'r1', 'r3'), p2p('b1', 'r2', 'r1', ETHERIP));
    const [n1, n2] = [lab.node('n1'), lab.node('n2')];
    const message = `topology.links[1].encapsulation: etherip between ${n1.v4} and ${n2.v4} is taken by another slice; etherip between ${n1.v6} and ${n2.v6} is taken by another slice`;
    for (const call of [() => lab.api.links.allocate({ slice: S('b'), topology: t }), () => lab.api.operator.plan({ slice: S('b'), topology: t })]) {
      const err = await refusal(call());
      expect(err.code, err.details).toBe(status.FAILED_PRECONDITION);
      expect(err.details).toBe(message);
      expect(err.details).not.toContain(S('a'));
      expect(err.metadata.get('visp-field')).toEqual(['topology.links[1].encapsulation']);
      expect(err.metadata.get('visp-frees-at')).toEqual([]);
    }
    expect(await slices()).toEqual(before);
  });

  it('the same slice with auto comes up READY; EtherIP on another pair is unaffected', async () => {
    await lab.api.links.allocate({ slice: S('b'), topology: topo(p2p('b1', 'r2', 'r1', AUTO), p2p('b2', 'r1', 'r3', ETHERIP)) });
    await lab.api.links.provision({ slice: S('b') });
    const m = await lab.waitState(S('b'), 'OPERATIONAL_STATE_READY', 30_000);
    expect(m.slivers.map((s) => s.encapsulation)).toEqual(['ENCAPSULATION_VXLAN', 'ENCAPSULATION_ETHERIP']);
    expect(underlays(m, 'b2')).toEqual([lab.node('n1').v4, lab.node('n3').v4]);
    expect(await pingNeighbours(m)).toEqual([]);
  });

  it('three EtherIP links of one slice on a pair with two addresses: INVALID_ARGUMENT naming the links that hold it', async () => {
    const [n2, n3] = [lab.node('n2'), lab.node('n3')];
    const err = await refusal(lab.api.links.allocate({ slice: S('c'), topology: topo(p2p('c1', 'r2', 'r3', ETHERIP), p2p('c2', 'r3', 'r2', ETHERIP), p2p('c3', 'r2', 'r3', ETHERIP)) }));
    expect(err.code, err.details).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe(`topology.links[2].encapsulation: etherip between ${n2.v4} and ${n3.v4} is already used by link "c1" of this slice; etherip between ${n2.v6} and ${n3.v6} is already used by link "c2" of this slice`);
    expect(await slices()).not.toContain(S('c'));
  });

  it('once the holder is deleted, its pairs cool down: refused with when they free', async () => {
    await lab.api.links.delete({ slice: S('a') });
    const deleted = Date.now();
    const err = await refusal(lab.api.links.allocate({ slice: S('d'), topology: topo(p2p('d1', 'r1', 'r2', ETHERIP)) }));
    expect(err.code, err.details).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toMatch(/^topology\.links\[0\]\.encapsulation: etherip between \S+ and \S+ is cooling down until \S+ \(frees in (9 min [0-9]+ s|10 min)\) after a slice released it; etherip between/);
    const freesAt = Date.parse(String(err.metadata.get('visp-frees-at')[0]));
    expect(Math.abs(freesAt - (deleted + 10 * 60_000))).toBeLessThan(5_000);
    expect(Number(err.metadata.get('visp-retry-after-ms')[0])).toBeGreaterThan(9 * 60_000);
  });
});
