import { describe, expect, it } from 'vitest';
import { parsePercent, parseRate, parseTime } from './units.js';
import { describeProperties, effectiveProperties, propertiesProblem, qdiscsNeeded, showRate, showTime } from './properties.js';

describe('units as a topology file writes them', () => {
  it.each([
    ['100Mbit', 100e6], ['100 Mbit', 100e6], ['100Mbit/s', 100e6], ['100mbps', 100e6], ['1.5Gbit', 1.5e9], ['64kbit', 64e3],
    ['1Gibit', 1024 ** 3], ['8000bit', 8000], ['2Tbit', 2e12],
  ])('rate %s → %d bit/s', (text, want) => expect(parseRate(text)).toBe(want));
  it.each(['0.4bit', '0.0004kbit'])('a rate that rounds to 0 (unshaped) is refused: %j', (text) => expect(parseRate(text)).toMatch(/is less than a bit per second/));
  it.each(['100', '100MB', 'fast', '-1Mbit', '1e6bit', ''])('not a rate: %j', (text) => expect(parseRate(text)).toMatch(/is not a rate: give bits per second with a unit/));

  it.each([['20ms', 20_000], ['250us', 250], ['250µs', 250], ['1.5s', 1_500_000], ['0', 0], ['1500ns', 2], ['0.5ms', 500]])('time %s → %d µs', (text, want) => expect(parseTime(text)).toBe(want));
  it.each(['20', '20 minutes', 'ms', '-1ms'])('not a time: %j', (text) => expect(parseTime(text)).toMatch(/is not a time/));
  it('a time under a microsecond is refused, not rounded to nothing', () => expect(parseTime('100ns')).toMatch(/less than a microsecond/));

  it.each([['0.5%', 0.005], ['100%', 1], ['0', 0], ['2 %', 0.02]])('percentage %s → %d', (text, want) => expect(parsePercent(text)).toBeCloseTo(want, 12));
  it.each(['0.5', '50 percent', '%'])('not a percentage: %j', (text) => expect(parsePercent(text)).toMatch(/is not a percentage: give it with %/));

  it.each([[100e6, '100Mbit'], [1.5e9, '1.5Gbit'], [64e3, '64kbit'], [999, '999bit']])('shows %d bit/s as %s', (bps, text) => expect(showRate(bps)).toBe(text));
  it.each([[20_000, '20ms'], [250, '250us'], [1_500_000, '1.5s'], [2_000_000, '2s']])('shows %d µs as %s', (us, text) => expect(showTime(us)).toBe(text));
});

describe('link properties: the rules and what they need', () => {
  it.each([
    [{ capacity: 100e6, latency: 20_000, jitter: 2000, loss: 0.005 }, undefined],
    [{ capacity: 7999 }, 'capacity'],
    [{ capacity: 1.5 }, 'capacity'],
    [{ latency: -1 }, 'latency'],
    [{ latency: 61_000_000 }, 'latency'],
    [{ latency: 1000, jitter: 1001 }, 'jitter'],
    [{ jitter: 1 }, 'jitter'],
    [{ loss: 1.01 }, 'loss'],
    [{ loss: Number.NaN }, 'loss'],
    [{ corruption: -0.1 }, 'corruption'],
    [{ reorder: 0.1 }, 'reorder'],
    [{ reorder: 1, latency: 1000 }, 'reorder'],
    [{ capacity: 0, loss: 0 }, undefined],
  ] as const)('%j → %s', (p, field) => expect(propertiesProblem(p)?.field).toBe(field));

  it('a member’s own fields replace the link’s, one by one; zero is unset', () => {
    expect(effectiveProperties({ capacity: 10e6, latency: 5000 }, { capacity: 20e6, loss: 0 })).toEqual({ capacity: 20e6, latency: 5000 });
    expect(effectiveProperties(undefined, undefined)).toBeUndefined();
    expect(effectiveProperties({ capacity: 0 }, {})).toBeUndefined();
  });

  it.each([
    [{ capacity: 1e6 }, ['tbf']],
    [{ latency: 1 }, ['netem']],
    [{ capacity: 1e6, loss: 0.5 }, ['tbf', 'netem']],
    [{ capacity: 1e6, latency: 1000, loss: 1 }, ['blackhole']],
    [{}, []],
  ] as const)('%j is shaped with %j', (p, want) => expect(qdiscsNeeded(p)).toEqual(want));

  it('says what is set, in the file’s units', () => {
    expect(describeProperties({ capacity: 100e6, latency: 20_000, jitter: 2000, loss: 0.005 })).toBe('capacity 100Mbit, latency 20ms ± 2ms, loss 0.5%');
    expect(describeProperties(undefined)).toBe('unshaped');
  });
});
