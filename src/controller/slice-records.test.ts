// A slice record split into a header and link chunks reads back as it was
// written, a change writes only what changed, and a broken split is refused.
import { describe, expect, it } from 'vitest';
import { Pacer } from '../ipam/pacer.js';
import type { Entry } from '../store/types.js';
import type { LinkRecord, SliceRecord, TopologyLink } from './model.js';
import { chunkKey, CHUNKS_PREFIX, LINKS_PER_CHUNK, readSlices, sliceEntries, sliceKey } from './slice-records.js';

function slice(name: string, links: number): SliceRecord {
  const requested: TopologyLink[] = Array.from({ length: links }, (_, i) => ({ id: `l${i}`, members: [{ node: 'a' }, { node: 'b' }], encapsulation: 'vxlan', addressClass: 'private' }));
  const recs: LinkRecord[] = requested.map((l, i) => ({
    id: l.id, kind: 'vxlan', key: i + 1, mtu: 1450, lan: false, addressClass: 'private', ipv4Subnet: `192.0.2.${(i % 64) * 4}/30`,
    endpoints: [{ node: 'a', physicalNode: 'n0', netns: `visp-${name}:a`, ifname: `eth${i}`, addresses: [], underlay: '198.18.0.1' }], stopped: false, restart: 0,
  }));
  return {
    slice: name, owner: 'spiffe://t/am/x', state: 'allocated', request: { nodes: [{ id: 'a', node: 'n0' }, { id: 'b', node: 'n1' }], links: requested },
    endTime: 2e12, allocatedAt: 1e12, expiresAt: 1.1e12, groupId: 3, blocks: [{ addressClass: 'private', prefix: '192.0.2.0/24', pool: 'p' }], links: recs, generation: 9,
  };
}

/** A store's entries after applying `ops` to `before` (a map key → JSON). */
function apply(before: Map<string, string>, ops: Array<[string, unknown]>): Map<string, string> {
  const out = new Map(before);
  for (const [k, v] of ops) { if (v === undefined) out.delete(k); else out.set(k, JSON.stringify(v)); }
  return out;
}
function read(m: Map<string, string>): SliceRecord[] {
  const entry = (key: string): Entry => ({ key, value: m.get(key)!, createRevision: 1, modRevision: 1, version: 1 });
  const keys = [...m.keys()];
  return readSlices(keys.filter((k) => !k.startsWith(CHUNKS_PREFIX)).map(entry), keys.filter((k) => k.startsWith(CHUNKS_PREFIX)).map(entry));
}
const pace = (): Pacer => new Pacer(undefined, 0);

describe('slice records in the store', () => {
  for (const n of [0, 1, LINKS_PER_CHUNK, LINKS_PER_CHUNK + 1, 3 * LINKS_PER_CHUNK + 7]) {
    it(`${n} links: written and read back equal, in ${Math.ceil(n / LINKS_PER_CHUNK)} chunks`, async () => {
      const s = slice('s', n);
      const ops = await sliceEntries(s, undefined, pace());
      expect(ops.map(([k]) => k)).toEqual([sliceKey('s'), ...Array.from({ length: Math.ceil(n / LINKS_PER_CHUNK) }, (_, i) => chunkKey('s', i))]);
      expect(read(apply(new Map(), ops))).toEqual([s]);
    });
  }

  it('a change of state (same links) writes the header alone; a changed link writes its chunk alone', async () => {
    const s = slice('s', 3 * LINKS_PER_CHUNK);
    const stored = apply(new Map(), await sliceEntries(s, undefined, pace()));
    const provisioned: SliceRecord = { ...s, state: 'provisioned', generation: 10 };
    const ops = await sliceEntries(provisioned, s, pace());
    expect(ops.map(([k]) => k)).toEqual([sliceKey('s')]);
    const links = provisioned.links.map((l, i) => (i === LINKS_PER_CHUNK + 5 ? { ...l, stopped: true } : l));
    const stopped: SliceRecord = { ...provisioned, links, generation: 11 };
    const ops2 = await sliceEntries(stopped, provisioned, pace());
    expect(ops2.map(([k]) => k)).toEqual([sliceKey('s'), chunkKey('s', 1)]);
    expect(read(apply(apply(stored, ops), ops2))).toEqual([stopped]);
  });

  it('gone: the header and every chunk are deleted', async () => {
    const s = slice('s', LINKS_PER_CHUNK + 1);
    const stored = apply(new Map(), await sliceEntries(s, undefined, pace()));
    const ops = await sliceEntries(undefined, s, pace());
    expect(ops).toEqual([[sliceKey('s'), undefined], [chunkKey('s', 0), undefined], [chunkKey('s', 1), undefined]]);
    expect(apply(stored, ops).size).toBe(0);
  });

  it('a record written before the split (links inline) reads as it was, and its next write is split', async () => {
    const s = slice('old', 5);
    const old = new Map([[sliceKey('old'), JSON.stringify(s)]]);
    expect(read(old)).toEqual([s]);
    const next = { ...s, state: 'provisioned' as const };
    const stored = apply(old, await sliceEntries(next, read(old)[0], pace()));
    expect([...stored.keys()]).toEqual([sliceKey('old'), chunkKey('old', 0)]);
    expect(read(stored)).toEqual([next]);
  });

  it('a header whose chunk is missing is refused, naming the key', async () => {
    const stored = apply(new Map(), await sliceEntries(slice('s', LINKS_PER_CHUNK + 1), undefined, pace()));
    stored.delete(chunkKey('s', 1));
    expect(() => read(stored)).toThrow(`store: visp/slices/s names 2 link chunks, ${chunkKey('s', 1)} is missing`);
  });

  it('slices whose names share a prefix keep their own chunks', async () => {
    const a = slice('a', 2);
    const ab = slice('a-b', 3);
    const stored = apply(apply(new Map(), await sliceEntries(a, undefined, pace())), await sliceEntries(ab, undefined, pace()));
    expect(read(stored).sort((x, y) => x.slice.localeCompare(y.slice))).toEqual([a, ab]);
  });
});
