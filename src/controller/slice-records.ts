// How a slice record is kept in the store: a header (visp/slices/<slice>)
// and its links in chunks (visp/slice-links/<slice>/<n>). Why not one value:
// a 10,000-link slice's record is about 6 MB of JSON, and every change of
// state (Provision, Renew, an action on one link) would rewrite all of it in
// one synchronous commit while every other caller waits. Split, a change
// writes the header and only the chunks whose links changed (Provision: the
// header alone), and a new slice's chunks are serialized in paced stretches.
//
// Records written before the split (links inline in the header) are read as
// they are and rewritten split on their next change.
import type { Entry } from '../store/types.js';
import type { Pacer } from '../ipam/pacer.js';
import type { LinkRecord, SliceRecord, TopologyLink } from './model.js';

export const SLICES_PREFIX = 'visp/slices/';
export const CHUNKS_PREFIX = 'visp/slice-links/';
/** Links per chunk: about 150 kB of JSON, a millisecond or two to write. */
export const LINKS_PER_CHUNK = 256;

export const sliceKey = (slice: string): string => `${SLICES_PREFIX}${slice}`;
/** Zero-padded so that a prefix read returns the chunks in order. */
export const chunkKey = (slice: string, n: number): string => `${CHUNKS_PREFIX}${slice}/${String(n).padStart(6, '0')}`;

/** The header as stored: the record without its links and requested links, and how many chunks hold them. */
interface Header extends Omit<SliceRecord, 'links' | 'request'> {
  request: Omit<SliceRecord['request'], 'links'> & { links?: TopologyLink[] };
  links?: LinkRecord[];
  chunks?: number;
}
/** One chunk: links [n·LINKS_PER_CHUNK, (n+1)·LINKS_PER_CHUNK) of the record and of its request. */
interface Chunk { links: LinkRecord[]; requested: TopologyLink[] }

const chunkCount = (s: SliceRecord): number => Math.ceil(Math.max(s.links.length, s.request.links.length) / LINKS_PER_CHUNK);

function sameRange<T>(a: readonly T[] | undefined, b: readonly T[], from: number, to: number): boolean {
  if (!a) return false;
  if (Math.min(a.length, to) !== Math.min(b.length, to)) return false;
  for (let i = from; i < Math.min(b.length, to); i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The puts (a value) and deletes (undefined) that take the store from `prev`
 * (what it holds, or nothing) to `next` (or nothing: the slice is gone). A
 * chunk whose links are the very objects `prev` had is not rewritten.
 */
export async function sliceEntries(next: SliceRecord | undefined, prev: SliceRecord | undefined, pace: Pacer): Promise<Array<[string, unknown]>> {
  const slice = (next ?? prev)!.slice;
  const before = prev ? chunkCount(prev) : 0;
  const out: Array<[string, unknown]> = [];
  if (!next) {
    out.push([sliceKey(slice), undefined]);
    for (let n = 0; n < before; n++) out.push([chunkKey(slice, n), undefined]);
    return out;
  }
  const count = chunkCount(next);
  const { links: _links, request, ...rest } = next;
  const { links: _requested, ...requestRest } = request;
  out.push([sliceKey(slice), { ...rest, request: requestRest, chunks: count } satisfies Header]);
  for (let n = 0; n < count; n++) {
    const from = n * LINKS_PER_CHUNK;
    const to = from + LINKS_PER_CHUNK;
    if (n < before && sameRange(prev?.links, next.links, from, to) && sameRange(prev?.request.links, next.request.links, from, to)) continue;
    if (pace.due()) await pace.pause();
    out.push([chunkKey(slice, n), { links: next.links.slice(from, to), requested: next.request.links.slice(from, to) } satisfies Chunk]);
  }
  for (let n = count; n < before; n++) out.push([chunkKey(slice, n), undefined]);
  return out;
}

/**
 * Slice records from the entries of a read of SLICES_PREFIX and
 * CHUNKS_PREFIX (any order). A header whose chunks are not all there is a
 * broken store: refused, naming the key, rather than served with links missing.
 */
export function readSlices(headers: readonly Entry[], chunks: readonly Entry[]): SliceRecord[] {
  const bySlice = new Map<string, Map<number, Chunk>>();
  for (const e of chunks) {
    const rest = e.key.slice(CHUNKS_PREFIX.length);
    const cut = rest.lastIndexOf('/');
    const slice = rest.slice(0, cut);
    let m = bySlice.get(slice);
    if (!m) { m = new Map(); bySlice.set(slice, m); }
    m.set(Number(rest.slice(cut + 1)), JSON.parse(e.value) as Chunk);
  }
  return headers.map((e) => {
    const h = JSON.parse(e.value) as Header;
    const { chunks: count, links: inline, request, ...rest } = h;
    if (count === undefined) return { ...rest, request: { ...request, links: request.links ?? [] }, links: inline ?? [] } as SliceRecord; // written before the split
    const links: LinkRecord[] = [];
    const requested: TopologyLink[] = [];
    const mine = bySlice.get(h.slice);
    for (let n = 0; n < count; n++) {
      const c = mine?.get(n);
      if (!c) throw new Error(`store: ${e.key} names ${count} link chunks, ${chunkKey(h.slice, n)} is missing`);
      links.push(...c.links);
      requested.push(...c.requested);
    }
    return { ...rest, request: { ...request, links: requested }, links } as SliceRecord;
  });
}
