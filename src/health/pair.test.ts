import { describe, expect, it } from 'vitest';
import { PairWindow, quantile } from './pair.js';
import { verdict } from './summary.js';

const T = { downAfterMs: 1200, startupMs: 5000, answerTimeoutMs: 1000, windowMs: 10_000 };
const WHAT = 'vxlan VNI 7';

/** A pair probed every 250 ms from t=0 to `until`; `answers(t)` gives the RTT in ms, or undefined for no answer. */
function run(until: number, answers: (t: number) => number | undefined, w = new PairWindow('198.18.0.2', 'vtx', T)): PairWindow {
  for (let t = 0; t <= until; t += 250) {
    const seq = w.sent(t);
    const ms = answers(t);
    if (ms !== undefined) w.answered(t + ms, seq, ms * 1e6);
  }
  return w;
}

describe('a probed pair', () => {
  it('alive, RTT percentiles and no loss when every probe is answered', () => {
    const h = run(9750, (t) => (t % 1000 === 0 ? 0.5 : 0.1)).health(9800, WHAT);
    expect(h).toMatchObject({ alive: true, loss: 0, sent: 40, answered: 40, rttP50Ms: 0.1, rttP99Ms: 0.5 });
    expect(h.reason).toBeUndefined();
  });

  it('undecided while it never answered and is young; down after startup, "ever" in the reason', () => {
    const w = run(4000, () => undefined);
    expect(w.alive(4000)).toBeUndefined();
    run(6000, () => undefined, w);
    const h = w.health(6000, WHAT);
    expect(h.alive).toBe(false);
    expect(h.reason).toBe('no probe answer from 198.18.0.2 over vxlan VNI 7 ever');
  });

  it('down once no answer came for down_after, with a reason that names when answers stopped (stable while down)', () => {
    const w = run(5000, (t) => (t <= 2000 ? 0.1 : undefined));
    expect(w.alive(2000 + 1200)).toBe(true);
    expect(w.alive(2000 + 1201)).toBe(false);
    const r = w.health(5000, WHAT).reason;
    expect(r).toBe(`no probe answer from 198.18.0.2 over vxlan VNI 7 since ${new Date(2000.1).toISOString()}`);
    expect(w.health(5500, WHAT).reason).toBe(r);
  });

  it('back from down at the first answer, and the outage does not count as loss afterwards', () => {
    const w = run(6000, (t) => (t < 2000 || t >= 5000 ? 0.1 : undefined));
    const h = w.health(6100, WHAT);
    expect(h.alive).toBe(true);
    expect(h.loss).toBe(0);
  });

  it('a new link: probes sent before the far end first answered (still being built) are not loss', () => {
    // Unanswered for the first 3 s (within start-up), then every probe answered.
    const h = run(6000, (t) => (t >= 3000 ? 0.1 : undefined)).health(6100, WHAT);
    expect(h).toMatchObject({ alive: true, loss: 0 });
  });

  it('loss over the window: probes older than the answer timeout without an answer', () => {
    const h = run(9750, (t) => (t % 1000 === 0 ? undefined : 0.1)).health(9800, WHAT);
    expect(h.alive).toBe(true);
    // The one unanswered at 9000 ms is not overdue yet; the one at 0 came before the first answer ever (start-up).
    expect(h.loss).toBeCloseTo(8 / 38, 5);
  });

  it('a late answer (after the answer timeout) is not counted; a failed send is in the reason', () => {
    const w = new PairWindow('198.18.0.2', 'vtx', T);
    const seq = w.sent(0);
    w.answered(1500, seq, 1e6);
    expect(w.health(1500, WHAT).answered).toBe(0);
    for (let t = 250; t <= 7000; t += 250) { w.sent(t); w.failed('device vtx: ENETDOWN'); }
    expect(w.health(7000, WHAT).reason).toBe('no probe answer from 198.18.0.2 over vxlan VNI 7 ever (sending: device vtx: ENETDOWN)');
  });

  it('an answer read late (a busy event loop) counts for when it arrived', () => {
    const w = run(2000, () => 0.1);
    const seq = w.sent(2250);
    // Read 3 s later, stamped by the kernel at 2250.1 ms: within the answer timeout of its probe, and the last answer.
    w.answered(2250.1, seq, 0.1e6);
    expect(w.health(2250.1 + 1199, WHAT).alive).toBe(true);
    expect(w.alive(2250.1 + 1201)).toBe(false);
  });

  it('quantile: nearest rank', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.99)).toBe(4);
    expect(quantile([7], 0.5)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });
});

describe('an endpoint\'s verdict from its pairs', () => {
  const pair = (remote: string, alive: boolean | undefined, loss = 0) => ({ remote, device: 'vt', alive, loss, sent: 40, answered: alive ? 40 : 0, ...(alive === false ? { reason: `no answer from ${remote}` } : {}) });
  it.each([
    ['no pairs', [], undefined],
    ['all alive', [pair('a', true), pair('b', true)], undefined],
    ['undecided', [pair('a', undefined)], undefined],
    ['the only one dead', [pair('a', false)], { state: 'down', reason: 'no answer from a' }],
    ['all dead', [pair('a', false), pair('b', false)], { state: 'down', reason: 'no answer from a; no answer from b' }],
    ['one of two dead (a LAN)', [pair('a', true), pair('b', false)], { state: 'degraded', reason: '1 of 2 members unreachable: no answer from b' }],
    ['lossy', [pair('a', true, 0.25)], { state: 'degraded', reason: '20% or more of probes to a lost' }],
    ['a little loss', [pair('a', true, 0.1)], undefined],
  ] as const)('%s', (_, pairs, want) => {
    expect(verdict(pairs, 0.2)).toEqual(want);
  });
});
