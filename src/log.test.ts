// The daemons' records: JSON lines with the fields docs/operations.md names,
// a request id carried across awaits and timers started inside a call, a
// module's own component and id winning over the defaults, levels, and the
// readable form for terminals.
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { currentRequestId, logTo, newRequestId, processLogger, REQUEST_ID, withFields, withRequest, type ProcessLogOptions } from './log.js';

function capture(o: Partial<ProcessLogOptions> = {}): { lines: string[]; records: () => Array<Record<string, unknown>>; log: ReturnType<typeof logTo> } {
  const lines: string[] = [];
  const log = logTo(processLogger({ component: 'agent', pretty: false, destination: { write: (s: string) => lines.push(s) }, ...o }));
  return { lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>), log };
}

describe('log', () => {
  afterEach(() => { delete process.env.VISP_LOG_LEVEL; delete process.env.VISP_LOG_FORMAT; });

  it('a record: level as a word, ISO time, the daemon\'s component and bindings, the fields given', () => {
    const c = capture({ bindings: { node: 'n1' } });
    c.log('built', { slice: 's', link: 'l' });
    c.log('refused', { level: 'warn', component: 'tls' });
    const [a, b] = c.records();
    expect(a).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), node: 'n1', component: 'agent', slice: 's', link: 'l', msg: 'built' });
    // The module's component replaces the daemon's (one key, not two).
    expect(b).toMatchObject({ level: 'warn', component: 'tls', msg: 'refused' });
    expect(c.lines[1]!.match(/"component"/g)).toHaveLength(1);
  });

  it('a request id follows the call across awaits and timers; an explicit one wins; none outside', async () => {
    const c = capture();
    await withRequest('abc', async () => {
      await sleep(1);
      setTimeout(() => c.log('later'), 0);
      await sleep(5);
      c.log('own', { requestId: 'zzz' });
    });
    c.log('outside');
    expect(c.records().map((r) => [r.msg, r.requestId])).toEqual([['later', 'abc'], ['own', 'zzz'], ['outside', undefined]]);
    expect(currentRequestId()).toBeUndefined();
  });

  it('request ids: new ones are 16 hex digits; a client\'s is taken only when plain', () => {
    expect(newRequestId()).toMatch(/^[0-9a-f]{16}$/);
    expect(REQUEST_ID.test('ticket-4711.a_b')).toBe(true);
    for (const bad of ['', 'a b', 'x'.repeat(65), 'a\nb', 'é']) expect(REQUEST_ID.test(bad), bad).toBe(false);
  });

  it('VISP_LOG_LEVEL sets the level (an unknown word is ignored); withFields adds to every record', () => {
    process.env.VISP_LOG_LEVEL = 'warn';
    const c = capture();
    const log = withFields(c.log, { component: 'bgp' });
    log('quiet');
    log('loud', { level: 'error' });
    expect(c.records().map((r) => [r.msg, r.component])).toEqual([['loud', 'bgp']]);
    process.env.VISP_LOG_LEVEL = 'chatty';
    const d = capture();
    d.log('shown');
    expect(d.lines).toHaveLength(1);
  });

  it('readable lines when asked (a terminal): one line per record, no JSON; VISP_LOG_FORMAT=json overrides', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(ch: Buffer, _e, cb) { lines.push(ch.toString()); cb(); } });
    logTo(processLogger({ component: 'controller', pretty: true, destination: sink }))('controller listening', { slice: 's' });
    await sleep(20);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/INFO.*controller: controller listening.*"slice":"s"/);
    expect(lines[0]).not.toMatch(/^\{/);
    process.env.VISP_LOG_FORMAT = 'json';
    const c = capture({ pretty: true });
    c.log('x');
    expect(c.records()[0]).toMatchObject({ msg: 'x' });
  });
});
