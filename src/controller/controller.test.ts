// The controller without a kernel, without root: a memory store, a manual
// clock, and fake agent sessions that record what they are sent. Covers the
// GENI lifecycle, what one AM may see of another's slices, one agent per
// node, teardowns until the agent reports them done, expiry, and egress
// configuration reaching the egress node's agent.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EgressStatus } from '../bgp/desired.js';
import { AlreadyExistsError, CancelledError, IncompatibleStateError, LimitExceededError, NotFoundError } from '../errors.js';
import { manualClock } from '../ipam/clock.js';
import type { IpamConfigSpec } from '../ipam/types.js';
import { createMemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/types.js';
import type { AgentSession, DesiredState, PlanReply } from './agent-session.js';
import { LIVENESS_MS } from './agents.js';
import { Controller, type ControllerEvent, type ControllerOptions } from './controller.js';
import type { DesiredEndpoint } from './desired.js';
import type { EgressConfig, SliceRequest, TopologyLink } from './model.js';

const POOLS: IpamConfigSpec = {
  pools: [
    { name: 'priv-v4', prefix: '198.51.100.0/24', class: 'private', defaultBlockLength: 27 },
    { name: 'pub-v4', prefix: '203.0.113.0/24', class: 'public', defaultBlockLength: 28 },
  ],
  cooldownMs: 0,
  allocationTtlMs: 600_000,
};
const AM_A = { owner: 'spiffe://test.example/am/a' };
const AM_B = { owner: 'spiffe://test.example/am/b' };

/** A connected agent as the controller sees it: keeps what it was sent; answers a plan, fails it, or never answers. */
class FakeAgent implements AgentSession {
  readonly sent: DesiredState[] = [];
  readonly closed: string[] = [];
  answer: 'yes' | 'fails' | 'hangs' = 'yes';
  constructor(readonly node: string, readonly peer = `fake:${node}`) {}
  send(state: DesiredState): void { this.sent.push(state); }
  plan(endpoints: DesiredEndpoint[]): Promise<PlanReply> {
    if (this.answer === 'hangs') return new Promise(() => undefined);
    if (this.answer === 'fails') return Promise.reject(new Error('stream gone'));
    return Promise.resolve({ endpoints: endpoints.map((e) => ({ slice: e.slice, link: e.link, steps: [`build ${e.link}`] })) });
  }
  close(reason: string): void { this.closed.push(reason); }
  get last(): DesiredState { return this.sent.at(-1)!; }
}

interface Rig { c: Controller; store: Store; clock: ReturnType<typeof manualClock>; agents: Map<string, FakeAgent>; events: ControllerEvent[] }

const underlay = (node: string): string[] => [`198.18.0.${Number(node.replace(/\D/g, '')) || 9}`];

async function connect(c: Controller, node: string, agent = new FakeAgent(node)): Promise<FakeAgent> {
  await c.agentConnected({ node, underlay: underlay(node), capabilities: [{ kind: 'vxlan', supported: true }] }, agent);
  return agent;
}

const running: Controller[] = [];
afterEach(() => { for (const c of running.splice(0)) c.stop(); vi.useRealTimers(); });

async function rig(o: { nodes?: string[]; store?: Store; clock?: ReturnType<typeof manualClock> } & Partial<ControllerOptions> = {}): Promise<Rig> {
  const store = o.store ?? createMemoryStore();
  const clock = o.clock ?? manualClock();
  const c = new Controller({ store, clock, ipam: POOLS, sweepIntervalMs: 3_600_000, ...o });
  running.push(c);
  const events: ControllerEvent[] = [];
  c.on('event', (e) => events.push(e));
  await c.start();
  const agents = new Map<string, FakeAgent>();
  for (const n of o.nodes ?? ['n1', 'n2']) agents.set(n, await connect(c, n));
  return { c, store, clock, agents, events };
}

const link = (id: string, a: string, b: string): TopologyLink => ({ id, members: [{ node: a }, { node: b }], encapsulation: 'vxlan', addressClass: 'private', ipv4: {} });
const request = (slice: string, extra: Partial<SliceRequest> = {}): SliceRequest => ({
  slice, topology: { nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }], links: [link('l1', 'r1', 'r2')] }, ...extra,
});

/** The agent reports every endpoint of its last desired state in `state`, at that state's generation. */
function report(c: Controller, a: FakeAgent, state: 'ready' | 'stopped' = 'ready', tornDown: string[] = []): Promise<void> {
  const d = a.last;
  return c.agentReport(a.node, {
    generation: d.generation, repairs: [], tornDown,
    endpoints: d.endpoints.map((e) => ({ slice: e.slice, link: e.link, state, devices: [], rxPackets: 0, txPackets: 0, rxBytes: 0, txBytes: 0 })),
  });
}

const errorOf = async (p: Promise<unknown> | (() => Promise<unknown>)): Promise<unknown> => {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { return e; }
  throw new Error('expected a refusal');
};

describe('Controller: the GENI lifecycle', () => {
  it('allocate → provision → agents report → renew → stop/restart → delete', async () => {
    const { c, clock, agents, events } = await rig();
    const n1 = agents.get('n1')!, n2 = agents.get('n2')!;
    const sentBefore = n1.sent.length;

    const m = await c.allocate(request('s1'));
    expect(m).toMatchObject({ slice: 's1', allocation: 'allocated', state: 'pending', expiresAt: clock.now() + 600_000 });
    expect(m.slivers.map((s) => s.id)).toEqual(['s1/l1']);
    expect(n1.sent).toHaveLength(sentBefore); // allocated is nothing for an agent to build
    expect(c.desiredState('n1').endpoints).toEqual([]);

    const p = await c.provision('s1');
    expect(p).toMatchObject({ allocation: 'provisioned', state: 'configuring' });
    expect(p.expiresAt).toBeUndefined();
    for (const a of [n1, n2]) expect(a.last.endpoints.map((e) => `${e.slice}/${e.link}`)).toEqual(['s1/l1']);
    expect(n1.last.endpoints[0]).toMatchObject({ kind: 'vxlan', local: '198.18.0.1', remotes: ['198.18.0.2'], adminDown: false, restart: 0 });
    expect(await c.provision('s1')).toMatchObject({ allocation: 'provisioned' }); // again: no change, same answer

    await report(c, n1);
    expect((await c.status('s1')).state).toBe('configuring'); // n2 has not reported yet
    await report(c, n2);
    expect(await c.status('s1')).toMatchObject({ state: 'ready' });
    expect(events.filter((e) => e.kind === 'state').map((e) => `${e.node} ${e.state}`)).toEqual(['n1 ready', 'n2 ready']);

    const end = new Date(clock.now() + 7_200_000).toISOString();
    expect((await c.renew('s1', end)).endTime).toBe(Date.parse(end));

    const genBefore = n1.last.generation;
    const stopped = await c.performAction('s1', [], 'stop');
    expect(stopped.state).toBe('configuring'); // the agents have not seen it yet
    expect(n1.last.generation).toBeGreaterThan(genBefore);
    expect(n1.last.endpoints[0]!.adminDown).toBe(true);
    await report(c, n1, 'stopped');
    await report(c, n2, 'stopped');
    expect((await c.status('s1')).state).toBe('stopped');
    await c.performAction('s1', ['s1/l1'], 'restart');
    expect(n2.last.endpoints[0]!.restart).toBe(1);
    expect(await errorOf(c.performAction('s1', ['s1/nope'], 'start'))).toMatchObject({ field: 'slivers[0]' });

    const gone = await c.delete('s1');
    expect(gone.allocation).toBe('unallocated');
    expect(await errorOf(c.status('s1'))).toBeInstanceOf(NotFoundError);
    for (const a of [n1, n2]) {
      expect(a.last.endpoints).toEqual([]);
      expect(a.last.teardowns).toEqual([expect.objectContaining({ slice: 's1', group: m.groupId })]);
    }
    expect(events.map((e) => e.kind).filter((k) => !k.startsWith('node') && k !== 'state')).toEqual(['allocated', 'provisioned', 'renewed', 'action', 'action', 'deleted']);
  });

  it('shutdown keeps the record for Describe until Delete, and refuses Provision, Renew and actions', async () => {
    const { c, agents } = await rig();
    await c.allocate(request('s2'));
    await c.provision('s2');
    const s = await c.shutdown('s2');
    expect(s).toMatchObject({ allocation: 'unallocated', state: 'stopped' });
    expect(agents.get('n1')!.last.teardowns.map((t) => t.slice)).toEqual(['s2']);
    expect(await c.describe('s2')).toMatchObject({ allocation: 'unallocated' });
    expect(await c.shutdown('s2')).toMatchObject({ allocation: 'unallocated' }); // again: no change
    expect(await errorOf(c.provision('s2'))).toBeInstanceOf(IncompatibleStateError);
    expect(await errorOf(c.performAction('s2', [], 'start'))).toBeInstanceOf(IncompatibleStateError);
    expect(await errorOf(() => c.renew('s2', new Date(Date.UTC(2030, 0, 2)).toISOString()))).toBeInstanceOf(IncompatibleStateError);
    await c.delete('s2');
    expect(await errorOf(c.describe('s2'))).toBeInstanceOf(NotFoundError);
    // Its space was released at shutdown: the name and the space are free again.
    expect((await c.allocate(request('s2'))).allocation).toBe('allocated');
  });

  it('everything survives a restart: a second controller on the same store sees slices, nodes and teardowns', async () => {
    const { c, store, clock } = await rig();
    await c.allocate(request('keep'));
    await c.provision('keep');
    await c.allocate(request('drop'));
    await c.provision('drop');
    await c.delete('drop');
    const before = c.desiredState('n1').generation; // the delete's: in no record now
    c.stop();
    clock.advance(1000); // a restart takes time; generations never go below the clock
    const again = await rig({ store, clock, nodes: [] });
    expect((await again.c.status('keep')).allocation).toBe('provisioned');
    expect(again.c.listResources().map((n) => [n.name, n.connected])).toEqual([['n1', false], ['n2', false]]);
    expect(again.c.desiredState('n1').teardowns.map((t) => t.slice)).toEqual(['drop']);
    // Its generations go on above the records': a node reconnecting gets its slice at a newer one.
    const a = await connect(again.c, 'n1');
    expect(a.last.endpoints.map((e) => e.slice)).toEqual(['keep']);
    await again.c.performAction('keep', [], 'stop');
    expect(a.last.generation).toBeGreaterThan(before);
  });

  it('an Allocate whose caller has gone before its turn does nothing', async () => {
    const { c } = await rig();
    const ac = new AbortController();
    ac.abort();
    expect(await errorOf(c.allocate(request('s3'), undefined, { signal: ac.signal }))).toBeInstanceOf(CancelledError);
    expect(await errorOf(c.status('s3'))).toBeInstanceOf(NotFoundError);
    expect((await c.allocate(request('s3'))).allocation).toBe('allocated');
  });

  it('every verb that writes does nothing for a caller that has gone (CancelledError), and works once asked again', async () => {
    const { c, store, clock } = await rig();
    await c.allocate(request('s4'));
    const gone = { signal: AbortSignal.abort() };
    const snapshot = async (): Promise<string> => JSON.stringify((await store.read([{ prefix: '' }])).results[0]!.map((e) => `${e.key}@${e.modRevision}`));
    const before = await snapshot();
    expect(await errorOf(c.provision('s4', undefined, gone))).toBeInstanceOf(CancelledError);
    expect((await c.status('s4')).allocation).toBe('allocated');
    await c.provision('s4');
    const provisioned = await snapshot();
    expect(provisioned).not.toBe(before);
    for (const [what, call] of [
      ['renew', () => c.renew('s4', new Date(clock.now() + 7_200_000).toISOString(), undefined, gone)],
      ['performAction', () => c.performAction('s4', [], 'stop', undefined, gone)],
      ['shutdown', () => c.shutdown('s4', undefined, gone)],
      ['delete', () => c.delete('s4', undefined, gone)],
      ['plan', () => c.plan(request('s5'), gone)],
    ] as const) {
      expect(await errorOf(call()), what).toBeInstanceOf(CancelledError);
      expect(await snapshot(), `${what}: the store`).toBe(provisioned);
    }
    expect((await c.status('s4')).allocation).toBe('provisioned');
    expect((await c.delete('s4')).allocation).toBe('unallocated');
  });
});

describe('Controller: one aggregate manager does not see another\'s slices', () => {
  it('NOT_FOUND for another owner\'s slice exactly as for none; a taken name says nothing of whose', async () => {
    const { c } = await rig();
    await c.allocate(request('mine'), AM_A);
    expect((await c.status('mine', AM_A)).slice).toBe('mine');
    const absent = await errorOf(c.status('nothing', AM_B)) as Error;
    for (const verb of [
      () => c.status('mine', AM_B), () => c.describe('mine', AM_B), () => c.provision('mine', AM_B), () => c.delete('mine', AM_B),
      () => c.shutdown('mine', AM_B), () => c.performAction('mine', [], 'stop', AM_B),
      () => c.renew('mine', new Date(Date.UTC(2030, 0, 2)).toISOString(), AM_B),
    ]) {
      const e = await errorOf(verb) as Error;
      expect(e).toBeInstanceOf(NotFoundError);
      expect(e.message).toBe(absent.message.replace('nothing', 'mine'));
    }
    expect((await errorOf(c.allocate(request('mine'), AM_B)) as Error).message).toBe('slice: the name "mine" is taken; choose another');
    expect((await errorOf(c.allocate(request('mine'), AM_A)) as Error).message).toMatch(/already has an allocation/);
    // The operator (no owner) sees and acts on every slice.
    expect((await c.listSlices()).map((m) => m.slice)).toEqual(['mine']);
    expect((await c.provision('mine')).allocation).toBe('provisioned');
    // Still A's: A deletes it.
    expect((await c.delete('mine', AM_A)).allocation).toBe('unallocated');
  });

  it('limits.slices_per_am counts one AM\'s slices only', async () => {
    const { c } = await rig({ limits: { slicesPerAm: 1 } });
    await c.allocate(request('a1'), AM_A);
    expect(await errorOf(c.allocate(request('a2'), AM_A))).toBeInstanceOf(LimitExceededError);
    expect((await c.allocate(request('b1'), AM_B)).slice).toBe('b1');
    expect((await c.allocate(request('op1'))).slice).toBe('op1'); // the operator is not counted
  });
});

describe('Controller: one agent per node', () => {
  it('a second connection is refused while the first answers, and replaces it when it does not', async () => {
    const { c, agents, events } = await rig();
    const first = agents.get('n1')!;
    const second = new FakeAgent('n1', 'fake:n1-second');
    const e = await errorOf(connect(c, 'n1', second)) as Error;
    expect(e).toBeInstanceOf(AlreadyExistsError);
    expect(e.message).toContain('from fake:n1');
    expect(first.closed).toEqual([]);
    expect(second.sent).toEqual([]);

    first.answer = 'fails'; // its stream broke without the transport noticing
    await connect(c, 'n1', second);
    expect(first.closed).toEqual([expect.stringContaining('replaced by a new connection for node n1 from fake:n1-second')]);
    expect(second.sent).toHaveLength(1);
    expect(events.filter((x) => x.kind === 'node-replaced')).toHaveLength(1);
    // The old stream ending later does not disconnect the node.
    c.agentDisconnected('n1', first);
    expect(c.listResources().find((n) => n.name === 'n1')!.connected).toBe(true);
    c.agentDisconnected('n1', second);
    expect(c.listResources().find((n) => n.name === 'n1')!.connected).toBe(false);
  });

  it('an agent that never answers is replaced after LIVENESS_MS', async () => {
    const { c, agents } = await rig();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const first = agents.get('n2')!;
    first.answer = 'hangs';
    const second = new FakeAgent('n2', 'fake:n2-second');
    let done = false;
    const p = connect(c, 'n2', second).then(() => { done = true; });
    await vi.advanceTimersByTimeAsync(LIVENESS_MS - 1);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(first.closed).toEqual([expect.stringContaining(`did not answer within ${LIVENESS_MS} ms`)]);
  });

  it('refuses an agent that drops an underlay address links use', async () => {
    const { c, agents } = await rig();
    await c.allocate(request('s'));
    c.agentDisconnected('n1', agents.get('n1')!);
    const e = await errorOf(c.agentConnected({ node: 'n1', underlay: ['198.18.0.77'], capabilities: [{ kind: 'vxlan', supported: true }] }, new FakeAgent('n1')));
    expect(e).toBeInstanceOf(IncompatibleStateError);
    expect((e as Error).message).toContain('198.18.0.1');
  });
});

describe('Controller: teardowns', () => {
  it('reach every member node\'s agent, and each is dropped (store too) once that agent reports it torn down', async () => {
    const { c, store, clock, agents } = await rig();
    const n1 = agents.get('n1')!, n2 = agents.get('n2')!;
    const m = await c.allocate(request('t1'));
    await c.provision('t1');
    await c.delete('t1');
    const t = { slice: 't1', group: m.groupId, namespaces: ['visp-t1:r1'] };
    expect(n1.last.teardowns).toEqual([t]);
    expect(n2.last.teardowns).toEqual([{ ...t, namespaces: ['visp-t1:r2'] }]);

    await report(c, n1, 'ready', ['t1', 't1', 'unknown']);
    expect(c.desiredState('n1').teardowns).toEqual([]);
    expect(c.desiredState('n2').teardowns.map((x) => x.slice)).toEqual(['t1']);
    const keys = (await store.read([{ prefix: 'visp/teardowns/' }])).results[0]!.map((e) => e.key);
    expect(keys).toEqual(['visp/teardowns/n2/t1']);
    // A reconnecting agent gets the teardown it still owes; so does one after a controller restart.
    c.agentDisconnected('n2', n2);
    expect((await connect(c, 'n2', new FakeAgent('n2', 'fake:n2-again'))).last.teardowns).toEqual([{ ...t, namespaces: ['visp-t1:r2'] }]);
    c.stop();
    const restarted = await rig({ store, clock, nodes: [] });
    expect(restarted.c.desiredState('n2').teardowns.map((x) => x.slice)).toEqual(['t1']);
    expect(restarted.c.desiredState('n1').teardowns).toEqual([]);
  });
});

describe('Controller: expiry (the sweeper, on the manual clock)', () => {
  it('an allocation not provisioned in time, and a slice past its end time, are taken down', async () => {
    const { c, clock, agents, events } = await rig({ sweepIntervalMs: 5 });
    await c.allocate(request('late'));
    await c.allocate(request('ends', { endTime: new Date(clock.now() + 3_600_000).toISOString() }));
    await c.provision('ends');
    await new Promise((r) => setTimeout(r, 30)); // sweeps run: nothing is due
    expect((await c.listSlices()).map((m) => m.slice)).toEqual(['ends', 'late']);

    clock.advance(600_000); // the allocation's TTL
    await vi.waitFor(() => expect(events.some((e) => e.kind === 'expired' && e.slice === 'late')).toBe(true));
    expect((await c.listSlices()).map((m) => m.slice)).toEqual(['ends']);
    expect(agents.get('n1')!.last.teardowns.map((t) => t.slice)).toEqual(['late']);

    clock.advance(3_000_000); // the end time
    await vi.waitFor(() => expect(events.some((e) => e.kind === 'expired' && e.slice === 'ends')).toBe(true));
    expect(await c.listSlices()).toEqual([]);
    expect(agents.get('n2')!.last.endpoints).toEqual([]);
    expect(agents.get('n2')!.last.teardowns.map((t) => t.slice).sort()).toEqual(['ends', 'late']);
    // Released: the same space can be allocated again.
    expect((await c.allocate(request('late'))).allocation).toBe('allocated');
  });
});

describe('Controller: BGP egress configuration', () => {
  const config: EgressConfig = {
    node: 'eg', asn: 64500, routerId: '198.18.0.9',
    providers: [{ address: '198.18.1.2', asn: 64501, families: ['ipv4'], maxPrefixes: 50 }],
  };
  const withEgress = (slice: string): SliceRequest => ({
    slice,
    topology: {
      nodes: [{ id: 'r1', node: 'n1' }],
      links: [{ id: 'up', members: [{ node: 'r1' }], encapsulation: 'vxlan', addressClass: 'public', ipv4: {}, egress: { node: 'eg', routes: 'default', defaultRoute: true } }],
    },
  });

  it('is pushed to the egress node\'s agent, with every provisioned slice egressing there, until removed', async () => {
    const { c, agents, events } = await rig({ nodes: ['n1', 'eg'] });
    const eg = agents.get('eg')!;
    expect(() => c.setEgressNode({ ...config, node: 'nowhere' })).toThrow(NotFoundError);
    expect(await errorOf(c.allocate(withEgress('x')))).toBeInstanceOf(IncompatibleStateError); // no egress configured there yet

    await c.setEgressNode(config);
    expect(eg.last.egress).toEqual({ asn: 64500, routerId: '198.18.0.9', providers: config.providers, maxLength: { ipv4: 28, ipv6: 48 }, slices: [] });
    expect(c.listBgp()).toEqual([{ node: 'eg', connected: true, config }]);

    const m = await c.allocate(withEgress('x'));
    expect(eg.last.egress!.slices).toEqual([]); // allocated only
    await c.provision('x');
    const block = m.blocks.find((b) => b.addressClass === 'public')!.prefix;
    expect(eg.last.egress!.slices).toEqual([expect.objectContaining({ slice: 'x', table: m.groupId, blocks: [block], routes: 'default' })]);
    expect(agents.get('n1')!.last.endpoints[0]!.routes).toEqual([{ dst: '0.0.0.0/0', via: expect.any(String) }]);
    expect(await errorOf(c.removeEgressNode('eg'))).toBeInstanceOf(IncompatibleStateError);

    // The speaker's report: a provider session's change of state is an event, and the operator sees it.
    const status: EgressStatus = { enabled: true, running: true, peers: [{ address: '198.18.1.2', asn: 64501, state: 'established', since: 1, received: 0, accepted: 0, advertised: 1 }], slices: [] };
    await c.agentReport('eg', { generation: eg.last.generation, endpoints: [], repairs: [], tornDown: [], egress: status });
    expect(events.filter((e) => e.kind === 'bgp-peer').map((e) => e.message)).toEqual(['198.18.1.2 (AS64501) new → established']);
    expect(c.listBgp('eg')[0]!.status).toEqual(status);

    await c.delete('x');
    expect(eg.last.egress!.slices).toEqual([]);
    await c.removeEgressNode('eg');
    expect(eg.last.egress).toBeUndefined();
    expect(c.listBgp()).toEqual([]);
    expect(await errorOf(c.removeEgressNode('eg'))).toBeInstanceOf(NotFoundError);
  });
});
