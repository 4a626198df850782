// Fault test: link events must never kill the process. The `netlink` npm
// package aborted the whole process when its receive buffer overflowed; our
// socket turns ENOBUFS into an event and the watcher resyncs by dumping.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { delNetns, kernelSkipReason, makeNetns } from '../helpers/netns.js';

function burst(rcvbuf: number): { status: number | null; signal: string | null; result: Record<string, unknown> } {
  const ns = makeNetns('burst');
  try {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/kernel/fixtures/watcher-child.ts', ns, String(rcvbuf), '2500'],
      { encoding: 'utf8', timeout: 60_000 });
    const last = r.stdout.trim().split('\n').pop() ?? '{}';
    return { status: r.status, signal: r.signal, result: JSON.parse(last.startsWith('{') ? last : '{}') as Record<string, unknown> };
  } finally {
    delNetns(ns);
  }
}

describe.skipIf(kernelSkipReason)('link events under a burst while the event loop is blocked', () => {
  it('with the 4 MiB buffer: 5,000 link events, the process survives with a correct view', () => {
    const { status, signal, result } = burst(4 << 20);
    expect({ status, signal }).toEqual({ status: 0, signal: null });
    expect(result.kernel).toBe(5001); // lo + 2,500 veth pairs
    expect(result, JSON.stringify(result)).toMatchObject({ equal: true });
  });

  it('with a buffer small enough to overflow: ENOBUFS is survived, counted, and a resync repairs the view', () => {
    const { status, signal, result } = burst(64 << 10);
    expect({ status, signal }).toEqual({ status: 0, signal: null });
    expect(result.overflows).toBeGreaterThanOrEqual(1);
    expect(result.resyncs).toBeGreaterThanOrEqual(2); // the initial fill + at least one after the overflow
    expect(result, JSON.stringify(result)).toMatchObject({ equal: true });
  });
});
