// A caller that goes away (its signal aborts) stops an IPAM operation at the
// next safe point: before it starts, between two paced stretches of its
// plan, before its commit. What it had not committed is nowhere: the store
// is as it was, and the next caller gets the same space it would have got
// had the cancelled one never run. A commit already sent is never abandoned.
import { describe, expect, it } from 'vitest';
import { expectSane, rig } from '../../test/ipam/support.js';
import { CancelledError } from '../errors.js';
import { createMemoryStore, type Store } from '../store/index.js';
import { IPAM_PREFIX } from './records.js';
import type { SliceSpec } from './types.js';

/** `n` VXLAN point-to-point links with IPv6: big enough that planning takes many paced stretches. */
const big = (slice: string, n: number): SliceSpec => ({
  slice,
  links: Array.from({ length: n }, (_, k) => ({
    name: `l${k}`, interfaces: [{ name: `l${k}:a` }, { name: `l${k}:b` }], ipv6: { class: 'local' as const }, identifier: 'vni' as const,
  })),
});

/** A store that counts what reaches it, and may act when a commit is sent. */
function watched(inner: Store = createMemoryStore()): { store: Store; n: { reads: number; commits: number }; onCommit?: () => void } {
  const w: { store: Store; n: { reads: number; commits: number }; onCommit?: () => void } = {
    n: { reads: 0, commits: 0 },
    store: {
      read: (q, o) => { w.n.reads++; return inner.read(q, o); },
      commit: (t, o) => { w.n.commits++; const p = inner.commit(t, o); w.onCommit?.(); return p; },
      close: () => inner.close(),
    },
  };
  return w;
}

/** Everything the IPAM holds, and the store's revision. */
const dump = async (s: Store): Promise<unknown> => {
  const snap = await s.read([{ prefix: IPAM_PREFIX }]);
  return { revision: snap.revision, entries: snap.results[0]!.map((e) => [e.key, e.modRevision, e.value]) };
};

describe('IPAM operations stop for a caller that went away', () => {
  it('aborted before it starts: CancelledError, nothing read or written', async () => {
    const w = watched();
    const { ipam } = await rig({}, w.store);
    const before = await dump(w.store);
    const reads = w.n.reads;
    const commits = w.n.commits;
    const err = await ipam.allocate(big('s', 10), { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect((err as CancelledError).code).toBe('VISP_CANCELLED');
    expect(w.n.reads).toBe(reads);
    expect(w.n.commits).toBe(commits);
    expect(await dump(w.store)).toEqual(before);
    expect(await ipam.get('s')).toBeUndefined();
  });

  it('aborted during a paced 5,000-link plan: stops between stretches, nothing committed; the space is given back', async () => {
    const w = watched();
    const { ipam, store } = await rig({}, w.store);
    await ipam.allocate(big('small', 3)); // something already held, so "unchanged" means something
    const before = await dump(store);
    const usage = await ipam.usage();
    const commits = w.n.commits;
    const ac = new AbortController();
    // Another caller's turns: each is a pause of the plan. Abort at the third.
    let turns = 0;
    let readsAtAbort = 0;
    const p = ipam.allocate(big('big', 5000), { signal: ac.signal }).catch((e: unknown) => e);
    const tick = (): void => {
      if (++turns === 3) { readsAtAbort = w.n.reads; ac.abort(); return; }
      setImmediate(tick);
    };
    setImmediate(tick);
    const t0 = performance.now();
    const err = await p;
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(CancelledError);
    expect(readsAtAbort).toBeGreaterThan(0); // it had read its state and was planning when the caller went
    expect(w.n.commits).toBe(commits);
    expect(await dump(store)).toEqual(before);
    expect(await ipam.usage()).toEqual(usage);
    expect(await ipam.get('big')).toBeUndefined();
    await expectSane(store);
    // The same request now gets exactly what it gets on an IPAM that never saw the cancelled one.
    const t1 = performance.now();
    const a = await ipam.allocate(big('big', 5000));
    const full = performance.now() - t1;
    const fresh = await rig({});
    await fresh.ipam.allocate(big('small', 3));
    expect(a).toEqual(await fresh.ipam.allocate(big('big', 5000)));
    await expectSane(store);
    // It stopped early, not after doing the whole plan.
    expect(ms, `cancelled after ${ms.toFixed(0)} ms; the whole allocation took ${full.toFixed(0)} ms`).toBeLessThan(full);
  }, 60_000);

  it('aborted while waiting its turn behind another operation: starts nothing; the other completes', async () => {
    const w = watched();
    const { ipam } = await rig({}, w.store);
    const first = ipam.allocate(big('first', 2000));
    const ac = new AbortController();
    const second = ipam.allocate(big('second', 10), { signal: ac.signal }).catch((e: unknown) => e);
    ac.abort();
    expect(await second).toBeInstanceOf(CancelledError);
    expect((await first).links).toHaveLength(2000);
    expect(await ipam.get('second')).toBeUndefined();
  });

  it('aborted once its commit was sent: the commit completes and is reported (never half, never hidden)', async () => {
    const w = watched();
    const { ipam, store } = await rig({}, w.store);
    const ac = new AbortController();
    w.onCommit = () => ac.abort();
    const a = await ipam.allocate(big('s', 10), { signal: ac.signal });
    expect(ac.signal.aborted).toBe(true);
    expect(await ipam.get('s')).toEqual(a);
    await expectSane(store);
  });
});
