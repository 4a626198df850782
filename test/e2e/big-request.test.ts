// Issue 12, "Big requests must not stall everyone", end to end: a real
// controller (its store on disk) answers a 5,000-link Allocate, its Status,
// Provision and Delete over gRPC from a client on another thread, while this
// thread's 5 ms timer measures the longest the controller's loop was held.
// Every stage of a big call is covered: decoding the request, placement,
// the IPAM, the store's commit, the manifest, encoding the reply, and the
// desired states pushed to four real Agent streams and their reports. A stage
// that runs as one block shows as a stall that is a large part of its call;
// on a loaded machine every stretch grows, so the bound is relative as well
// as absolute (the benchmark `bigalloc` measures the figures).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type ControllerHandle } from '../../src/api/controller-server.js';
import { LAB_POOLS } from '../../src/api/lab-pools.js';
import { startBigClient, type BigCall, type BigClient } from '../helpers/big-client.js';
import { labPki } from '../helpers/lab-pki.js';
import { waitFor } from '../helpers/wait.js';

const LINKS = 5000;

/** This thread's time on a CPU so far, ms (the test runs on its process's main thread: vitest's forks pool). */
const onCpuMs = (): number => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
const NODES = ['n0', 'n1', 'n2', 'n3'];

describe('a 5,000-link slice through the API never holds the controller\'s loop for long', () => {
  const dir = mkdtempSync(join(tmpdir(), 'visp-big-'));
  let ctl: ControllerHandle;
  let client: BigClient;

  beforeAll(async () => {
    // The CPU time read is the main thread's: a thread pool would read the wrong thread.
    expect(isMainThread, 'this file runs on its process\'s main thread (vitest forks pool)').toBe(true);
    const pki = await labPki(join(dir, 'pki'), NODES);
    const address = `unix:${join(dir, 'c.sock')}`;
    ctl = await startController({
      listen: [{ address }], tls: pki.controller, storePath: join(dir, 'store.db'),
      ipam: { ...LAB_POOLS, cooldownMs: 0 }, limits: { requestBytes: 16 << 20 }, log: () => undefined,
    });
    // The AM and the four nodes' agents (real Agent streams over mTLS, reporting what they are sent as ready) on their own thread.
    client = startBigClient({ address, am: pki.am, agents: NODES.map((node, i) => ({ node, underlay: `2001:db8:ffff::${i + 1}`, files: pki.node(node) })) });
    await waitFor('the four agents', () => ctl.controller.listNodes().filter((n) => n.connected).length === 4, 20_000, 20);
    // Warm: the code paths have run once, as in a controller that has been up a while.
    expect((await client.call({ verb: 'allocate', slice: 'warm', links: 500 })).slivers).toBe(500);
    await client.call({ verb: 'provision', slice: 'warm' });
    await client.call({ verb: 'delete', slice: 'warm' });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await ctl?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `c`, measuring the longest gap of a 5 ms timer on this (the controller's) loop. */
  /**
   * Runs `c`, measuring the longest gap of a 5 ms timer on this (the
   * controller's) loop, and how much of that gap this thread was on a CPU
   * (/proc/self/task/<tid>/schedstat): on a loaded machine a thread also
   * waits for a CPU, which is the machine's doing, not the controller's. The
   * bound is on the time on a CPU; both are printed.
   */
  async function timed(c: BigCall): Promise<{ ms: number; maxGapMs: number; maxBusyMs: number; slivers: number; ready?: number }> {
    let last = performance.now();
    let lastRun = onCpuMs();
    let maxGapMs = 0;
    let maxBusyMs = 0;
    const tick = (): void => {
      const t = performance.now();
      const run = onCpuMs();
      if (t - last > maxGapMs) maxGapMs = t - last;
      if (run - lastRun > maxBusyMs) maxBusyMs = run - lastRun;
      last = t;
      lastRun = run;
    };
    const timer = setInterval(tick, 5);
    try {
      const a = await client.call(c);
      expect(a.error, `${c.verb}`).toBeUndefined();
      tick();
      return { ms: a.ms, maxGapMs, maxBusyMs, slivers: a.slivers, ...(a.ready !== undefined ? { ready: a.ready } : {}) };
    } finally {
      clearInterval(timer);
    }
  }

  const bound = (what: string, r: { ms: number; maxGapMs: number; maxBusyMs: number }): void => {
    const why = `${what}: longest stall ${r.maxGapMs.toFixed(0)} ms (on a CPU ${r.maxBusyMs.toFixed(0)} ms of it at most) of a ${r.ms.toFixed(0)} ms call`;
    console.log(why);
    expect(r.maxBusyMs < 100 || r.maxBusyMs < 0.2 * r.ms, why).toBe(true);
  };

  it('allocate: no stall over 100 ms or a fifth of the call', async () => {
    const r = await timed({ verb: 'allocate', slice: 'big', links: LINKS });
    expect(r.slivers).toBe(LINKS);
    bound('allocate', r);
  }, 120_000);

  it('provision, and the agents\' desired states pushed and their reports taken in, until every link is ready: no stall over 100 ms or a fifth of it', async () => {
    const p = await timed({ verb: 'provision', slice: 'big' });
    const pushed = await timed({ verb: 'reported', endpoints: 2 * LINKS });
    expect(pushed.ready, 'endpoints the agents were sent and reported ready').toBe(2 * LINKS);
    bound('provision', p);
    bound('the pushes and reports', pushed);
  }, 120_000);

  for (const verb of ['status', 'delete'] as const) {
    it(`${verb}: no stall over 100 ms or a fifth of the call`, async () => {
      const r = await timed({ verb, slice: 'big' });
      expect(r.slivers).toBe(LINKS);
      if (verb === 'status') expect(r.ready, 'links ready').toBe(LINKS);
      bound(verb, r);
    }, 120_000);
  }
});
