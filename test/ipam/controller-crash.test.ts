// Controller crash test: a child process runs a Controller on a SQLite store
// and SIGKILLs itself at swept moments inside Allocate, Provision and Delete:
// just before and just after each store call of the verb, and at promise
// moments (a promise created, an await resuming) counted from the verb's
// start: every one near the commit, every third elsewhere. After each kill a
// Controller starts again on the store (here, in the test process) and:
//  - the IPAM check finds nothing (no half-allocation, no leak, no overlap);
//  - every slice is fully there (its record and its IPAM allocation, in the
//    same state, with the same blocks) or fully gone (neither, and after a
//    Delete its teardown records for every node are there);
//  - the slice under test is usable: Delete works if it is there, Allocate
//    of the same name works if it is gone.
// The first run of each verb measures where its store calls and moments are.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Controller } from '../../src/controller/controller.js';
import type { SliceRecord } from '../../src/controller/model.js';
import { CHUNKS_PREFIX, readSlices, SLICES_PREFIX } from '../../src/controller/slice-records.js';
import { checkInvariants, createIpam, manualClock } from '../../src/ipam/index.js';
import { createMemoryStore, openSqliteStore, type Store } from '../../src/store/index.js';
import { waitFor } from '../helpers/wait.js';
import { CRASH_IPAM, NODES, request } from './fixtures/controller-crash-setup.js';

const CHILD = join(import.meta.dirname, 'fixtures', 'controller-crash-child.ts');
const dir = mkdtempSync(join(tmpdir(), 'visp-controller-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Verb = 'allocate' | 'provision' | 'delete';
interface Trace { jobs: number; calls: string[] }
interface Point { n: number; k: number; label: string }

/** Runs the child to the kill point (or the end of the verb); resolves with whether it was killed, and what it printed. */
function run(file: string, verb: Verb, slice: string, point: readonly string[]): Promise<{ killed: boolean; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, verb, slice, ...point], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const armed = out.includes('armed\n');
      if (signal === 'SIGKILL' && armed && !out.includes('done\n')) resolve({ killed: true, out });
      else if (code === 0 && armed && out.includes('done\n')) resolve({ killed: false, out });
      else reject(new Error(`${verb} ${slice} ${point.join(' ')}: child ended with code ${code}, signal ${signal}:\n${out}\n${err}`));
    });
  });
}

/** Before and after every store call; promise moments: all from 4 before a commit to 6 after it, every third elsewhere. */
function killPoints(t: Trace): Point[] {
  const points: Point[] = [];
  const commits: number[] = [];
  t.calls.forEach((c, i) => {
    const [what, at] = c.split('@') as [string, string];
    if (what === 'commit') commits.push(Number(at));
    points.push({ n: i + 1, k: -1, label: `before ${what} #${i + 1}` }, { n: i + 1, k: 0, label: `after ${what} #${i + 1}` });
  });
  for (let m = 1; m <= t.jobs; m++) {
    if (m % 3 === 0 || commits.some((c) => m >= c - 4 && m <= c + 6)) points.push({ n: 0, k: m, label: `promise moment ${m} of ${t.jobs}` });
  }
  return points;
}

/** The controller's slice records as it reads them at start-up (a header without all its link chunks throws), and no chunk without its header. */
async function records(store: Store): Promise<Map<string, SliceRecord>> {
  const snap = await store.read([{ prefix: SLICES_PREFIX }, { prefix: CHUNKS_PREFIX }]);
  const recs = new Map(readSlices(snap.results[0]!, snap.results[1]!).map((r) => [r.slice, r]));
  const orphans = snap.results[1]!.map((e) => e.key).filter((k) => !recs.has(k.slice(CHUNKS_PREFIX.length).split('/')[0]!));
  expect(orphans, 'link chunks of no slice').toEqual([]);
  return recs;
}

async function teardownsOf(store: Store, slice: string): Promise<string[]> {
  const snap = await store.read(NODES.map((n) => ({ key: `visp/teardowns/${n.node}/${slice}` })));
  return snap.results.flatMap((r) => r.map((e) => e.key.split('/')[2]!));
}

/** Every slice fully there or fully gone, nothing orphaned in the IPAM; returns the state of `slice` ('gone' when absent). */
async function audit(store: Store, slice: string, where: string): Promise<string> {
  expect(await checkInvariants(store), `${where}: IPAM check`).toEqual([]);
  const recs = await records(store);
  const allocations = new Map((await createIpam({ store }).list()).map((a) => [a.slice, a]));
  for (const [name, r] of recs) {
    const a = allocations.get(name);
    if (r.state === 'shutdown') {
      expect(a, `${where}: shut-down slice ${name} still holds an allocation`).toBeUndefined();
      continue;
    }
    expect(a, `${where}: slice ${name} (${r.state}) has no IPAM allocation`).toBeDefined();
    expect({ state: a!.state, groupId: a!.groupId, blocks: a!.blocks.map((b) => `${b.pool} ${b.prefix}`) }, `${where}: slice ${name}`)
      .toEqual({ state: r.state, groupId: r.groupId, blocks: r.blocks.map((b) => `${b.pool} ${b.prefix}`) });
  }
  for (const name of allocations.keys()) expect(recs.has(name), `${where}: IPAM allocation of ${name} that no slice owns`).toBe(true);
  return recs.get(slice)?.state ?? 'gone';
}

/** Restarts a controller on the store, audits it, and proves the slice usable; returns the slice's state found after the restart. */
async function restartAndCheck(file: string, verb: Verb, slice: string, where: string): Promise<string> {
  const store = await openSqliteStore(file);
  const c = new Controller({ store, ipam: CRASH_IPAM, sweepIntervalMs: 3_600_000 });
  try {
    await c.start();
    c.stop();
    const state = await audit(store, slice, where);
    const torn = await teardownsOf(store, slice);
    if (state === 'gone') {
      // Deleted: the agents were told (teardown records in the same commit); never allocated: nothing to tell.
      expect(torn, `${where}: teardowns of a gone slice`).toEqual(verb === 'delete' ? NODES.map((n) => n.node) : []);
      await expect(c.status(slice), `${where}: status of a gone slice`).rejects.toThrow(/no slice/);
      await c.allocate(request(slice));
      expect(await audit(store, slice, `${where}, allocated again`)).toBe('allocated');
    } else {
      expect(torn, `${where}: teardowns of a slice that is there`).toEqual([]);
      expect((await c.status(slice)).allocation, `${where}: status`).toBe(state);
    }
    await c.delete(slice);
    expect(await audit(store, slice, `${where}, deleted`)).toBe('gone');
    expect(await teardownsOf(store, slice)).toEqual(NODES.map((n) => n.node));
    return state;
  } finally {
    c.stop();
    await store.close();
  }
}

// What a verb may leave: before its commit, what was there; after, what it makes.
const OUTCOMES: Record<Verb, readonly [string, string]> = {
  allocate: ['gone', 'allocated'],
  provision: ['allocated', 'provisioned'],
  delete: ['provisioned', 'gone'],
};

describe('controller crash safety: every slice fully there or fully gone', () => {
  for (const verb of ['allocate', 'provision', 'delete'] as const) {
    it(`${verb}: killed at every store call and at promise moments around its commit`, async () => {
      const file = join(dir, `${verb}.db`);
      const first = await run(file, verb, `${verb}-0`, ['measure']);
      const trace = JSON.parse(/^trace (.*)$/m.exec(first.out)![1]!) as Trace;
      expect(trace.calls.filter((c) => c.startsWith('commit')), 'the verb is one commit').toHaveLength(1);
      expect(await restartAndCheck(file, verb, `${verb}-0`, 'measured run')).toBe(OUTCOMES[verb][1]);

      const points = killPoints(trace);
      const seen = new Map<string, string[]>();
      let killed = 0;
      for (const [i, p] of points.entries()) {
        const slice = `${verb}-${i + 1}`;
        const r = await run(file, verb, slice, [String(p.n), String(p.k)]);
        if (r.killed) killed++;
        const state = await restartAndCheck(file, verb, slice, `${verb} killed ${p.label}`);
        expect(OUTCOMES[verb], `${verb} killed ${p.label}`).toContain(state);
        if (r.killed) seen.set(state, [...(seen.get(state) ?? []), p.label]);
      }
      // Dozens of kills, on both sides of the commit.
      expect(killed).toBeGreaterThanOrEqual(20);
      expect([...seen.keys()].sort()).toEqual([...OUTCOMES[verb]].sort());
    }, 900_000);
  }
});

// The verbs the kill sweep does not cover, counted instead: each is one store commit.
describe('shutdown and expiry are one commit each', () => {
  async function rig(): Promise<{ c: Controller; store: Store; commits: string[][]; clock: ReturnType<typeof manualClock> }> {
    const inner = createMemoryStore();
    const commits: string[][] = [];
    const store: Store = {
      read: (q, o) => inner.read(q, o),
      commit: (t, o) => { commits.push(t.ops.map((op) => `${op.type} ${op.key}`)); return inner.commit(t, o); },
      close: () => inner.close(),
    };
    const clock = manualClock(Date.now());
    const c = new Controller({ store, clock, ipam: { ...CRASH_IPAM, allocationTtlMs: 60_000 }, sweepIntervalMs: 20 });
    await c.start();
    for (const n of NODES) await c.agentConnected(n, { peer: 'test', send: () => undefined, plan: async () => ({ endpoints: [] }), close: () => undefined });
    commits.length = 0;
    return { c, store, commits, clock };
  }
  const teardownKeys = (slice: string): string[] => NODES.map((n) => `put visp/teardowns/${n.node}/${slice}`);

  it('Shutdown: teardowns, release and the shut-down record in one commit; Delete then removes the record alone', async () => {
    const { c, store, commits } = await rig();
    try {
      await c.allocate(request('s'));
      await c.provision('s');
      commits.length = 0;
      expect((await c.shutdown('s')).allocation).toBe('unallocated');
      expect(commits).toHaveLength(1);
      expect(commits[0]).toEqual(expect.arrayContaining([...teardownKeys('s'), 'put visp/slices/s', 'delete ipam/slices/s']));
      expect(await audit(store, 's', 'after Shutdown')).toBe('shutdown');
      commits.length = 0;
      await c.delete('s');
      expect(commits).toEqual([['delete visp/slices/s', 'delete visp/slice-links/s/000000']]);
      expect(await audit(store, 's', 'after Delete')).toBe('gone');
    } finally {
      c.stop();
    }
  });

  it('an allocation not provisioned in time: teardowns, release and the record gone in one commit, by the controller, not the IPAM alone', async () => {
    const { c, store, commits, clock } = await rig();
    try {
      await c.allocate(request('late'));
      commits.length = 0;
      clock.advance(60_000);
      await waitFor('the expiry', async () => (await records(store)).size === 0, 5000, 10);
      const expiry = commits.filter((ops) => ops.includes('delete ipam/slices/late'));
      expect(expiry).toHaveLength(1);
      expect(expiry[0]).toEqual(expect.arrayContaining([...teardownKeys('late'), 'delete visp/slices/late']));
      expect(await audit(store, 'late', 'after expiry')).toBe('gone');
    } finally {
      c.stop();
    }
  });
});
