import { describe, expect, it } from 'vitest';
import type { SliceRecord } from './model.js';
import { endpointState, manifest, worst, type NodeReport } from './status.js';

const slice = (state: SliceRecord['state'], generation = 10): SliceRecord => ({
  slice: 's', state, request: { nodes: [], links: [] }, endTime: 0, allocatedAt: 0, groupId: 7, blocks: [], generation,
  links: [{
    id: 'l1', kind: 'vxlan', key: 100, mtu: 1450, lan: false, addressClass: 'local', stopped: false, restart: 0,
    endpoints: [
      { node: 'r1', physicalNode: 'n1', netns: 'x1', ifname: 'eth1', addresses: ['192.0.2.0/31'], underlay: '198.18.0.1' },
      { node: 'r2', physicalNode: 'n2', netns: 'x2', ifname: 'eth1', addresses: ['192.0.2.1/31'], underlay: '198.18.0.2' },
    ],
  }],
});
const report = (generation: number, state: 'ready' | 'failed' | 'stopped', error?: string): NodeReport => ({
  generation, at: 0,
  endpoints: new Map([['s/l1', { slice: 's', link: 'l1', state, ...(error ? { error } : {}), devices: [], rxPackets: 0, txPackets: 0, rxBytes: 0, txBytes: 0 }]]),
});

describe('operational state', () => {
  it.each([
    [['ready', 'ready'], 'ready'],
    [['ready', 'configuring'], 'configuring'],
    [['configuring', 'pending'], 'pending'],
    [['pending', 'failed', 'ready'], 'failed'],
    [['stopped', 'stopped'], 'stopped'],
    [['stopped', 'ready'], 'ready'],
    [['ready', 'degraded'], 'degraded'],
    [['degraded', 'down'], 'down'],
    [['down', 'configuring'], 'down'],
    [['down', 'failed'], 'failed'],
    [['stopped', 'degraded'], 'degraded'],
    [[], 'pending'],
  ] as const)('worst of %j is %s', (states, want) => expect(worst(states)).toBe(want));

  it.each([
    ['allocated slice → pending', slice('allocated'), true, report(99, 'ready'), 'pending'],
    ['node not connected → pending, with the reason', slice('provisioned'), false, undefined, 'pending'],
    ['no report yet → configuring', slice('provisioned'), true, undefined, 'configuring'],
    ['report older than the change → configuring', slice('provisioned', 10), true, report(9, 'ready'), 'configuring'],
    ['current report → its state', slice('provisioned', 10), true, report(10, 'ready'), 'ready'],
    ['failed with the agent\'s reason', slice('provisioned', 10), true, report(11, 'failed', 'gretap: not available'), 'failed'],
  ] as const)('%s', (_n, s, connected, r, want) => {
    const st = endpointState(s, 'l1', 'n1', connected, r);
    expect(st.state).toBe(want);
    if (!connected) expect(st.error).toBe('node n1 is not connected');
    if (want === 'failed') expect(st.error).toBe('gretap: not available');
  });

  it('a manifest rolls endpoints up into slivers and the slice, errors named by node', () => {
    const s = slice('provisioned', 10);
    const m = manifest(s, () => true, (n) => (n === 'n1' ? report(10, 'ready') : report(10, 'failed', 'boom')));
    expect(m.slivers[0]!.state).toBe('failed');
    expect(m.slivers[0]!.error).toBe('n2: boom');
    expect(m.state).toBe('failed');
    expect(m.slivers[0]!.endpoints.map((e) => e.remotes)).toEqual([['198.18.0.2'], ['198.18.0.1']]);
    // A point-to-point link has no bridge (docs/kernel.md); the agent's own rule (joinOf) says so.
    expect(m.slivers[0]!.endpoints[0]!.bridge).toBeUndefined();
  });
});
