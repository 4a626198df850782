// The RSpec reader's thread is shared by every caller: requests wait on the
// loop and go to it one at a time, one whose caller has gone is dropped
// without being read, and what may wait is bounded.
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError, InvalidSpecError, UnavailableError } from '../errors.js';
import { MAX_WAITING_BYTES, RspecReader } from './reader-thread.js';

const HEAD = '<rspec xmlns="http://www.geni.net/resources/rspec/3" type="request">';
const SMALL = `${HEAD}
<node client_id="a" component_id="urn:publicid:IDN+x+node+n1"><interface client_id="a:if0"/></node>
<node client_id="b" component_id="urn:publicid:IDN+x+node+n2"><interface client_id="b:if0"/></node>
<link client_id="l"><interface_ref client_id="a:if0"/><interface_ref client_id="b:if0"/></link></rspec>`;
/** About 1 MiB that takes the thread a while and is refused in the end (no links). */
const BIG = `${HEAD}<node client_id="a" component_id="urn:publicid:IDN+x+node+n1">${'<x:a xmlns:x="urn:q" b="c"/>'.repeat(36_000)}</node></rspec>`;

const readers: RspecReader[] = [];
afterEach(async () => { for (const r of readers.splice(0)) await r.close(); });

describe('RSpec reader thread', () => {
  it('a request whose caller has gone while it waited is dropped, not read; the others are read in turn', async () => {
    const r = new RspecReader();
    readers.push(r);
    const gone = new AbortController();
    const bigs = Array.from({ length: 5 }, () => r.read(BIG, 'big', gone.signal).then(() => 'read', (e: Error) => e));
    const small = r.read(SMALL, 'small');
    gone.abort();
    const [first, ...rest] = await Promise.all(bigs);
    // The first was on the thread already: it is read (and refused); the rest never are.
    expect(first).toBeInstanceOf(InvalidSpecError);
    for (const e of rest) expect(e).toBeInstanceOf(CancelledError);
    expect((await small).topology.links).toHaveLength(1);
  });

  it(`at most ${MAX_WAITING_BYTES / 2 ** 20} MiB wait; beyond, UNAVAILABLE`, async () => {
    const r = new RspecReader();
    readers.push(r);
    const all = new AbortController();
    const n = Math.ceil(MAX_WAITING_BYTES / BIG.length) + 1;
    const reads = Array.from({ length: n + 1 }, () => r.read(BIG, 'big', all.signal).then(() => 'read', (e: Error) => e));
    await new Promise((res) => setTimeout(res, 10));
    all.abort();
    const settled = await Promise.all(reads);
    expect(settled.filter((e) => e instanceof UnavailableError).length).toBeGreaterThanOrEqual(1);
    expect(settled.at(-1)).toBeInstanceOf(UnavailableError);
    expect((await r.read(SMALL, 'small')).topology.links).toHaveLength(1);
  });
});
