// Several controllers on one etcd store: each keeps the store's records in
// memory (state.ts) and must see what the others write. This follows the
// store (a watch from the revision the controller loaded at; a relist when
// etcd compacted past it) and brings the memory up to date, key by key:
//
// - a slice (its header or a link chunk changed): read again, whole, at one
//   revision, on the slice's queue (so it never interleaves with a verb of
//   this controller on the same slice), and the nodes it was or is on get
//   their desired state again: an agent connected here builds what another
//   controller provisioned;
// - a node record, a teardown, an egress configuration: taken as written,
//   and the node's agent (if connected here) gets its desired state again.
//
// A change this controller made itself arrives too; it is recognised by the
// revision Records already holds for the key, and skipped. Every revision
// taken in is noted in Records, so this controller's next write of the key
// expects it (compare-and-swap against the other controllers' writes).
import type { Entry, Store, Watchable } from '../store/types.js';
import type { Teardown } from './agent-session.js';
import { nodesOf } from './desired.js';
import type { EgressConfig, NodeRecord, SliceRecord } from './model.js';
import { observedKey, type Observed, type SharedReports } from './observed.js';
import { KEYS, type Records } from './persist.js';
import type { KeyedQueue } from './queue.js';
import { chunkKey, CHUNKS_PREFIX, LINKS_PER_CHUNK, readSlices, sliceKey, SLICES_PREFIX } from './slice-records.js';
import type { ControllerState, Emit } from './state.js';

export interface FollowDeps {
  /** Reports other controllers share (observed.ts). */
  shared: SharedReports;
  state: ControllerState;
  records: Records;
  queue: KeyedQueue;
  emit: Emit;
  push: (nodes: readonly string[]) => void;
  /** A slice's scheduled changes may have changed (schedule.ts). */
  rearm: () => void;
}

const NODES = 'visp/nodes/';
const TEARDOWNS = 'visp/teardowns/';
const EGRESS = 'visp/egress/';
const OBSERVED = observedKey('');

export class Follower {
  private watch: { close(): void } | undefined;

  constructor(private readonly d: FollowDeps, private readonly store: Pick<Store, 'read'>, private readonly watchable: Watchable) {}

  start(afterRevision: number): void {
    this.watch = this.watchable.watch('visp/', afterRevision, {
      changes: (changes) => {
        const slices = new Set<string>();
        for (const c of changes) {
          const slice = sliceOf(c.key);
          if (slice !== undefined) { slices.add(slice); continue; }
          this.take(c.key, c.entry);
        }
        for (const s of slices) this.refreshSlice(s);
      },
      relisted: (entries) => this.relisted(entries),
    });
  }

  stop(): void {
    this.watch?.close();
    this.watch = undefined;
  }

  /** A node record, teardown or egress configuration as the store now has it. */
  private take(key: string, e: Entry | undefined): void {
    const { state, records } = this.d;
    if (e ? records.known(key) === e.modRevision : records.known(key) === undefined) return; // ours, or already taken
    if (key.startsWith(NODES)) {
      const node = key.slice(NODES.length);
      void this.d.queue.run(`node/${node}`, async () => {
        records.note(key, e?.modRevision);
        if (e) state.nodes.set(node, JSON.parse(e.value) as NodeRecord);
        else state.nodes.delete(node);
      });
    } else if (key.startsWith(TEARDOWNS)) {
      const [node, slice] = key.slice(TEARDOWNS.length).split('/') as [string, string];
      void this.d.queue.run(`node/${node}`, async () => {
        records.note(key, e?.modRevision);
        if (e) state.teardownsOf(node).set(slice, JSON.parse(e.value) as Teardown);
        else state.teardownsOf(node).delete(slice);
        state.bump();
        this.d.push([node]);
      });
    } else if (key.startsWith(OBSERVED)) {
      records.note(key, e?.modRevision);
      this.d.shared.take(key.slice(OBSERVED.length), e ? (JSON.parse(e.value) as Observed) : undefined);
    } else if (key.startsWith(EGRESS)) {
      const node = key.slice(EGRESS.length);
      records.note(key, e?.modRevision);
      if (e) state.egress.set(node, JSON.parse(e.value) as EgressConfig);
      else state.egress.delete(node);
      state.bump();
      this.d.push([node]);
    }
  }

  /** A slice another controller changed: read whole, on its queue; its nodes get their desired state again. */
  private refreshSlice(slice: string): void {
    void this.d.queue.run(`slice/${slice}`, async () => {
      const { state, records } = this.d;
      const snap = await this.store.read([{ key: sliceKey(slice) }, { prefix: `${CHUNKS_PREFIX}${slice}/` }]);
      const [headers = [], chunks = []] = snap.results;
      const keys = [...headers, ...chunks];
      const before = state.slices.get(slice);
      const known = [sliceKey(slice), ...chunkKeysKnown(slice, before)];
      const same = keys.length === known.filter((k) => records.known(k) !== undefined).length && keys.every((e) => records.known(e.key) === e.modRevision);
      if (same) return;
      for (const k of known) records.note(k, undefined);
      for (const e of keys) records.note(e.key, e.modRevision);
      const next = readSlices(headers, chunks)[0];
      if (next) { state.slices.set(slice, next); state.sawGeneration(next.generation); } else state.slices.delete(slice);
      state.bump();
      this.d.push([...new Set([...(before ? nodesOf(before) : []), ...(next ? nodesOf(next) : [])])]);
      this.d.rearm();
    }).catch((err: Error) => this.d.emit('error', { slice, message: `following the store: ${err.message}` }));
  }

  /** etcd compacted past what this controller had seen: take everything as it now is. */
  private relisted(entries: readonly Entry[]): void {
    const slices = new Set<string>([...this.d.state.slices.keys()]);
    const present = new Set(entries.map((e) => e.key));
    for (const e of entries) {
      const s = sliceOf(e.key);
      if (s !== undefined) slices.add(s);
      else this.take(e.key, e);
    }
    // Records gone while this controller was not looking.
    for (const node of [...this.d.state.nodes.keys()]) if (!present.has(KEYS.node(node))) this.take(KEYS.node(node), undefined);
    for (const [node, m] of this.d.state.teardowns) for (const slice of [...m.keys()]) if (!present.has(KEYS.teardown(node, slice))) this.take(KEYS.teardown(node, slice), undefined);
    for (const node of [...this.d.state.egress.keys()]) if (!present.has(KEYS.egress(node))) this.take(KEYS.egress(node), undefined);
    for (const s of slices) this.refreshSlice(s);
    this.d.emit('store-relisted', { message: `followed the store again from a full read (${entries.length} keys): etcd had compacted past what this controller had seen` });
  }
}

function sliceOf(key: string): string | undefined {
  if (key.startsWith(SLICES_PREFIX)) return key.slice(SLICES_PREFIX.length);
  if (key.startsWith(CHUNKS_PREFIX)) {
    const rest = key.slice(CHUNKS_PREFIX.length);
    return rest.slice(0, rest.lastIndexOf('/'));
  }
  return undefined;
}

/** The chunk keys this controller may know of a slice: as many as its record had, and one beyond. */
function chunkKeysKnown(slice: string, rec: SliceRecord | undefined): string[] {
  const n = rec ? Math.ceil(Math.max(rec.links.length, rec.request.links.length) / LINKS_PER_CHUNK) + 1 : 1;
  return Array.from({ length: n }, (_, i) => chunkKey(slice, i));
}
