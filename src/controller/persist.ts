// The controller's records in the store: slices (a header and link chunks,
// slice-records.ts), registered nodes, teardowns per node, egress
// configurations. Every write expects the revision this controller last saw
// of its key, so a second writer is caught, never overwritten; writes that
// belong to an IPAM operation go into that operation's own commit (`also`).
import { throwIfCancelled, UnavailableError } from '../errors.js';
import type { Also } from '../ipam/index.js';
import { Pacer } from '../ipam/pacer.js';
import type { Op, Store } from '../store/types.js';
import type { Teardown } from './agent-session.js';
import type { EgressConfig, NodeRecord, SliceRecord } from './model.js';
import { CHUNKS_PREFIX, readSlices, sliceEntries, SLICES_PREFIX } from './slice-records.js';

/** Puts (a value) and deletes (undefined) of the controller's records. */
export type Entries = ReadonlyArray<readonly [string, unknown]>;

export const KEYS = {
  node: (n: string) => `visp/nodes/${n}`, teardown: (n: string, s: string) => `visp/teardowns/${n}/${s}`,
  egress: (n: string) => `visp/egress/${n}`,
};

/** Everything the controller keeps, as read at start. */
export interface Loaded {
  /** The store revision it was read at (a watch follows from there). */
  revision: number;
  slices: SliceRecord[];
  nodes: NodeRecord[];
  teardowns: Array<{ node: string; teardown: Teardown }>;
  egress: EgressConfig[];
}

export class Records {
  /** The revision of each key as this controller last read or wrote it. */
  private readonly revs = new Map<string, number>();

  constructor(private readonly store: Store) {}

  /** Reads every record (one snapshot) and remembers their revisions. */
  async load(): Promise<Loaded> {
    const snap = await this.store.read([{ prefix: SLICES_PREFIX }, { prefix: 'visp/nodes/' }, { prefix: 'visp/teardowns/' }, { prefix: 'visp/egress/' }, { prefix: CHUNKS_PREFIX }]);
    const [headers = [], nodes = [], teardowns = [], egress = [], chunks = []] = snap.results;
    for (const e of [...headers, ...nodes, ...teardowns, ...egress, ...chunks]) this.revs.set(e.key, e.modRevision);
    return {
      revision: snap.revision,
      slices: readSlices(headers, chunks),
      nodes: nodes.map((e) => JSON.parse(e.value) as NodeRecord),
      teardowns: teardowns.map((e) => ({ node: e.key.split('/')[2]!, teardown: JSON.parse(e.value) as Teardown })),
      egress: egress.map((e) => JSON.parse(e.value) as EgressConfig),
    };
  }

  /** The revision this controller knows `key` at (undefined: absent). */
  known(key: string): number | undefined { return this.revs.get(key); }

  /** A key as another controller wrote it (seen by a watch or a re-read): later writes expect this revision. */
  note(key: string, modRevision: number | undefined): void {
    if (modRevision === undefined) this.revs.delete(key);
    else this.revs.set(key, modRevision);
  }

  /** Writes a changed slice record (from `prev`, what the store holds): its header, and the link chunks that changed. */
  async writeSlice(next: SliceRecord, prev: SliceRecord | undefined, signal?: AbortSignal): Promise<void> {
    await this.write(await sliceEntries(next, prev, new Pacer(signal)), signal);
  }

  save(key: string, value: unknown): Promise<void> {
    return this.write([[key, value]]);
  }

  /** Several deletes in one transaction; keys never written are skipped. */
  removeAll(keys: readonly string[]): Promise<void> {
    return this.write(keys.map((key) => [key, undefined]));
  }

  /** Puts (a value) and deletes (undefined) of records in one transaction of their own. */
  /** `signal`: a caller gone before the commit stops it (CancelledError); once sent, a commit is never abandoned. */
  async write(entries: Entries, signal?: AbortSignal): Promise<void> {
    const ops = await this.ops(entries, new Pacer(signal));
    if (!ops.length) return;
    throwIfCancelled(signal);
    const r = await this.store.commit({ compares: [], ops });
    if (!r.ok) throw new UnavailableError(`store: ${r.conflicts.join(', ')} was changed by another writer; retry`);
    this.wrote(ops, r.revision);
  }

  /**
   * Records to write in an IPAM operation's own transaction (allocate,
   * markProvisioned, release), built from its result; `then` runs right after
   * that commit, in its turn. Why not an intent that start-up completes: the
   * store commits all or nothing already, so one commit leaves no half-done
   * verb to recover (see Also in src/ipam/op-context.ts).
   */
  also<R>(entries: (result: R) => Entries | Promise<Entries>, then?: () => void, pace?: Pacer): Also<R> {
    let ops: Op[] = [];
    return {
      ops: async (result) => (ops = await this.ops(await entries(result), pace)),
      committed: (revision) => {
        this.wrote(ops, revision);
        then?.();
      },
    };
  }

  /**
   * Store ops for puts (a value) and deletes (undefined), each expecting the
   * revision `revs` holds; a key never written is not deleted. Serialized in
   * paced stretches (a big slice has dozens of link chunks).
   */
  private async ops(entries: Entries, pace: Pacer = new Pacer()): Promise<Op[]> {
    const out: Op[] = [];
    for (const [key, value] of entries) {
      if (pace.due()) await pace.pause();
      const expect = this.revs.get(key);
      if (value !== undefined) out.push({ type: 'put', key, value: JSON.stringify(value), expect: expect ?? 0 });
      else if (expect !== undefined) out.push({ type: 'delete', key, expect });
    }
    return out;
  }

  /** `revs` after the commit at `revision` that carried `ops`. */
  private wrote(ops: readonly Op[], revision: number): void {
    for (const o of ops) {
      if (o.type === 'put') this.revs.set(o.key, revision);
      else this.revs.delete(o.key);
    }
  }
}
