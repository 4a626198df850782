// The agent host's own lifecycle, without a kernel: an agent that cannot
// start is retried alone with a growing backoff, close stops the retries,
// and the periodic pass interval grows with the number of hosted agents.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AgentHost, hostedReconcileInterval } from './agent-host.js';

describe('agent host', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('checks for drift every 2 s up to 100 agents, then 20 ms per agent', () => {
    expect([1, 100, 101, 300, 1000].map(hostedReconcileInterval)).toEqual([2000, 2000, 2020, 6000, 20_000]);
  });

  it('an agent that fails to start is retried alone, 0.5 s doubling; close stops the retries', async () => {
    const lines: string[] = [];
    const tls = { ca: '/nonexistent/ca.pem', cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' };
    const host = new AgentHost({
      controller: 'unix:/nonexistent.sock', runDir: '/nonexistent', log: (n, l) => lines.push(`${n}: ${l}`),
      nodes: [{ name: 'n1', netns: 'vt-nonexistent-1', underlay: ['198.18.0.1'], tls }],
    });
    vi.useFakeTimers();
    await host.start();
    expect(host.running('n1')).toBe(false);
    expect(lines.filter((l) => /^n1: agent failed to start/.test(l))).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(600);
    expect(lines.filter((l) => /^n1: agent failed to start/.test(l))).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(800);   // the second wait is 1 s (due at 1.5 s)
    expect(lines.filter((l) => /^n1: agent failed to start/.test(l))).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(200);
    expect(lines.filter((l) => /^n1: agent failed to start/.test(l))).toHaveLength(3);
    host.crash('n1');   // not running: nothing to crash
    await host.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(lines.filter((l) => /^n1: agent failed to start/.test(l))).toHaveLength(3);
  });
});
