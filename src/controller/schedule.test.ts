// Changes at a given time (docs/links.md, "At a given time"), on the
// controller without a kernel: a memory store, a manual clock (the timer's
// pass is run by hand), fake agents that keep what they are sent.
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidSpecError, NotFoundError } from '../errors.js';
import { manualClock } from '../ipam/clock.js';
import { createMemoryStore } from '../store/memory-store.js';
import type { Store } from '../store/types.js';
import type { AgentSession, DesiredState, PlanReply } from './agent-session.js';
import { Controller, type ControllerEvent } from './controller.js';
import { RETRY_MS } from './schedule.js';
import type { SliceRequest } from './model.js';
import { waitFor } from '../../test/helpers/wait.js';

class FakeAgent implements AgentSession {
  readonly sent: DesiredState[] = [];
  constructor(readonly node: string, readonly peer = `fake:${node}`) {}
  send(state: DesiredState): void { this.sent.push(state); }
  plan(): Promise<PlanReply> { return Promise.resolve({ endpoints: [] }); }
  close(): void { /* nothing */ }
}

const running: Controller[] = [];
afterEach(() => { for (const c of running.splice(0)) c.stop(); });

async function rig(o: { store?: Store; clock?: { now(): number } } = {}): Promise<{ c: Controller; store: Store; events: ControllerEvent[]; agents: FakeAgent[] }> {
  const store = o.store ?? createMemoryStore();
  const c = new Controller({ store, clock: o.clock ?? manualClock(), ipam: { pools: [{ name: 'p', prefix: '198.51.100.0/24', class: 'private', defaultBlockLength: 27 }] }, sweepIntervalMs: 3_600_000 });
  running.push(c);
  const events: ControllerEvent[] = [];
  c.on('event', (e) => events.push(e));
  await c.start();
  const agents = ['n1', 'n2'].map((n) => new FakeAgent(n));
  for (const a of agents) await c.agentConnected({ node: a.node, underlay: [`198.18.0.${a.node.slice(1)}`], capabilities: [{ kind: 'vxlan', supported: true }] }, a);
  return { c, store, events, agents };
}

const REQ: SliceRequest = {
  slice: 's', topology: { nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }], links: [{ id: 'l', members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'vxlan', addressClass: 'private', ipv4: {}, properties: { capacity: 10e6 } }] },
};
const iso = (t: number): string => new Date(t).toISOString();
const capacities = async (c: Controller): Promise<Array<number | undefined>> => (await c.describe('s')).slivers[0]!.endpoints.map((e) => e.properties?.capacity);

describe('changes at a given time', () => {
  it('a property change set for later is kept, listed, and made at its time; the agents hear of it then', async () => {
    const clock = manualClock();
    const { c, events, agents } = await rig({ clock });
    await c.allocate(REQ);
    await c.provision('s');
    const sent = agents[0]!.sent.length;
    const r = await c.setLinkProperties('s', { link: 'l', properties: { capacity: 50e6 } }, undefined, { at: iso(clock.now() + 10_000) });
    expect(r.scheduledId).toMatch(/^c\d+-[0-9a-z]+$/);
    expect(r.scheduled).toEqual([{ id: r.scheduledId, at: clock.now() + 10_000, properties: { link: 'l', properties: { capacity: 50e6 } } }]);
    expect(await capacities(c)).toEqual([10e6, 10e6]);
    expect(agents[0]!.sent).toHaveLength(sent); // nothing for an agent to do yet

    clock.advance(9_999);
    await c.runScheduled();
    expect(await capacities(c)).toEqual([10e6, 10e6]);
    clock.advance(1);
    await c.runScheduled();
    expect(await capacities(c)).toEqual([50e6, 50e6]);
    expect((await c.describe('s')).scheduled).toBeUndefined();
    expect(agents[0]!.sent.length).toBeGreaterThan(sent);
    expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(['scheduled', 'properties', 'scheduled-made']));
  });

  it('down and up at their times, and two changes at one time are made in the order they were asked for', async () => {
    const clock = manualClock();
    const { c } = await rig({ clock });
    await c.allocate(REQ);
    await c.provision('s');
    const t = clock.now();
    await c.performAction('s', [], 'stop', undefined, { at: iso(t + 5_000) });
    await c.performAction('s', ['s/l'], 'start', undefined, { at: iso(t + 8_000) });
    await c.setLinkProperties('s', { link: 'l', properties: { capacity: 20e6 } }, undefined, { at: iso(t + 8_000) });
    await c.setLinkProperties('s', { link: 'l', properties: { loss: 1 } }, undefined, { at: iso(t + 8_000) });
    expect((await c.describe('s')).scheduled!.map((x) => x.action?.action ?? 'props')).toEqual(['stop', 'start', 'props', 'props']);
    clock.advance(5_000);
    await c.runScheduled();
    expect((await c.describe('s')).slivers[0]!.link.stopped).toBe(true);
    clock.advance(3_000);
    await c.runScheduled();
    const m = await c.describe('s');
    expect(m.slivers[0]!.link.stopped).toBe(false);
    expect(m.slivers[0]!.endpoints.map((e) => e.properties)).toEqual([{ loss: 1 }, { loss: 1 }]); // the later-asked change last
  });

  it('cancelled before its time, it is never made; an unknown id is NOT_FOUND', async () => {
    const clock = manualClock();
    const { c, events } = await rig({ clock });
    await c.allocate(REQ);
    await c.provision('s');
    const r = await c.setLinkProperties('s', { link: 'l', properties: { loss: 1 } }, undefined, { at: iso(clock.now() + 1_000) });
    const m = await c.cancelScheduled('s', r.scheduledId!);
    expect(m.scheduled).toBeUndefined();
    clock.advance(2_000);
    await c.runScheduled();
    expect(await capacities(c)).toEqual([10e6, 10e6]);
    expect(events.find((e) => e.kind === 'unscheduled')?.message).toMatch(/cancelled: link l: loss 100%/);
    await expect(c.cancelScheduled('s', r.scheduledId!)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a slice deleted and allocated again under its name: the old slice\'s change ids do not name the new one\'s changes', async () => {
    const clock = manualClock();
    const { c } = await rig({ clock });
    await c.allocate(REQ);
    const old = await c.setLinkProperties('s', { link: 'l', properties: { loss: 1 } }, undefined, { at: iso(clock.now() + 60_000) });
    await c.delete('s');
    clock.advance(1_000);
    await c.allocate(REQ);
    const now = await c.setLinkProperties('s', { link: 'l', properties: { loss: 1 } }, undefined, { at: iso(clock.now() + 60_000) });
    expect(now.scheduledId).not.toBe(old.scheduledId);
    await expect(c.cancelScheduled('s', old.scheduledId!)).rejects.toBeInstanceOf(NotFoundError);
    expect((await c.describe('s')).scheduled?.map((x) => x.id)).toEqual([now.scheduledId]);
  });

  it('what is wrong is refused when asked, not at its time: bad values, an unknown sliver, a time after the slice ends', async () => {
    const clock = manualClock();
    const { c } = await rig({ clock });
    await c.allocate(REQ);
    const at = iso(clock.now() + 1_000);
    await expect(c.setLinkProperties('s', { link: 'l', properties: { loss: 2 } }, undefined, { at })).rejects.toBeInstanceOf(InvalidSpecError);
    await expect(c.setLinkProperties('s', { link: 'nope' }, undefined, { at })).rejects.toBeInstanceOf(NotFoundError);
    await expect(c.performAction('s', ['s/nope'], 'stop', undefined, { at })).rejects.toBeInstanceOf(NotFoundError);
    await expect(c.setLinkProperties('s', { link: 'l' }, undefined, { at: iso(clock.now() + 2 * 3_600_000) })).rejects.toThrow(/at: .* is not before the slice ends/);
    await expect((async () => c.setLinkProperties('s', { link: 'l' }, undefined, { at: 'tomorrow' }))()).rejects.toThrow(/at: "tomorrow" is not an RFC 3339 time/);
    // A time already passed is now.
    const now = await c.setLinkProperties('s', { link: 'l', properties: { capacity: 30e6 } }, undefined, { at: iso(clock.now() - 5) });
    expect(now.scheduledId).toBeUndefined();
    expect(await capacities(c)).toEqual([30e6, 30e6]);
  });

  it('one that cannot be made at its time (the slice was shut down) is dropped, and an event says why', async () => {
    const clock = manualClock();
    const { c, events } = await rig({ clock });
    await c.allocate(REQ);
    await c.provision('s');
    await c.performAction('s', [], 'stop', undefined, { at: iso(clock.now() + 1_000) });
    await c.shutdown('s');
    clock.advance(1_000);
    await c.runScheduled();
    expect(events.find((e) => e.kind === 'scheduled-failed')?.message).toMatch(/not made: slice: "s" is shut down/);
    expect((await c.describe('s')).scheduled).toBeUndefined();
  });

  it('kept in the store: a restarted controller lists them and makes what fell due while it was down, late, in order', async () => {
    const clock = manualClock();
    const store = createMemoryStore();
    const first = await rig({ clock, store });
    await first.c.allocate(REQ);
    await first.c.provision('s');
    await first.c.setLinkProperties('s', { link: 'l', properties: { capacity: 20e6 } }, undefined, { at: iso(clock.now() + 1_000) });
    await first.c.setLinkProperties('s', { link: 'l', properties: { capacity: 40e6 } }, undefined, { at: iso(clock.now() + 60_000) });
    first.c.stop();
    clock.advance(30_000);
    const again = await rig({ clock, store });
    expect((await again.c.describe('s')).scheduled!.map((x) => x.properties?.properties?.capacity)).toEqual([20e6, 40e6]);
    await again.c.runScheduled();
    expect(await capacities(again.c)).toEqual([20e6, 20e6]);
    expect(again.events.find((e) => e.kind === 'scheduled-made')?.message).toMatch(/29\.0 s late/);
    expect((await again.c.describe('s')).scheduled!.map((x) => x.properties?.properties?.capacity)).toEqual([40e6]);
  });

  it('the timer makes it on time with a real clock', async () => {
    const { c } = await rig({ clock: { now: () => Date.now() } });
    await c.allocate(REQ);
    await c.provision('s');
    const t = Date.now() + 300;
    await c.setLinkProperties('s', { link: 'l', properties: { capacity: 70e6 } }, undefined, { at: iso(t) });
    await waitFor('the change made', async () => (await capacities(c))[0] === 70e6, 3_000, 10);
    expect(Date.now()).toBeGreaterThanOrEqual(t);
  });
});

describe('changes at a given time, when the store fails', () => {
  it('a change that cannot be taken off the record is tried again later, not in a loop', async () => {
    const clock = manualClock();
    const inner = createMemoryStore();
    let failing = false;
    const store: Store = {
      read: (q, o) => inner.read(q, o),
      commit: (t, o) => (failing ? Promise.reject(new Error('disk full')) : inner.commit(t, o)),
      close: () => inner.close(),
    };
    const { c, events } = await rig({ store, clock });
    await c.allocate(REQ);
    await c.provision('s');
    await c.setLinkProperties('s', { link: 'l', properties: { capacity: 50e6 } }, undefined, { at: iso(clock.now() + 1_000) });
    failing = true;
    clock.advance(1_000);
    await c.runScheduled();
    await new Promise((r) => setTimeout(r, 300));
    const errors = events.filter((e) => e.kind === 'error' && /scheduled changes/.test(e.message ?? ''));
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.length).toBeLessThanOrEqual(2);
    expect(errors[0]!.message).toMatch(/disk full \(tried again in 5 s\)/);
    // Once the store is back, the next try makes it.
    failing = false;
    clock.advance(RETRY_MS);
    await c.runScheduled();
    expect(await capacities(c)).toEqual([50e6, 50e6]);
    expect((await c.describe('s')).scheduled ?? []).toEqual([]);
  });
});
