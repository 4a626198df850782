// The page's state: one entry per slice with its picture, one row per tunnel;
// a picture is drawn again only when its slice's view changed.
import { describe, expect, it } from 'vitest';
import type { TunnelView } from '../controller/controller.js';
import type { Manifest, OperationalState } from '../controller/model.js';
import { pageState, type PictureCache } from './snapshot.js';

const ep = (node: string, physicalNode: string, state: OperationalState) => ({
  node, physicalNode, netns: '', ifname: 'eth1', addresses: [], underlay: '198.18.0.1', state, devices: [], remotes: [],
});
const manifest = (slice: string, state: OperationalState): Manifest => ({
  slice, allocation: 'provisioned', state, endTime: 0, groupId: 1, blocks: [],
  slivers: [{
    id: `${slice}/a`, state, endpoints: [ep('r1', 'n1', 'ready'), ep('r2', 'n2', state)],
    link: { id: 'a', kind: 'vxlan', key: 7, mtu: 1450, lan: false, addressClass: 'local', endpoints: [], stopped: false, restart: 0 },
  }],
});
const tunnel: TunnelView = {
  slice: 's1', link: 'a', node: 'n1', kind: 'vxlan', key: 7, local: '198.18.0.1', remotes: ['198.18.0.2'], devices: ['vx1'], netns: 'x', ifname: 'eth1',
  addresses: [], state: 'ready', rxPackets: 1, txPackets: 2, rxBytes: 3, txBytes: 4, dataplane: 'kernel',
};

describe('pageState', () => {
  it('a slice: its states, counts and picture; a tunnel: its row', () => {
    const s = pageState([manifest('s1', 'failed')], [tunnel]);
    expect(s.slices).toHaveLength(1);
    expect(s.slices[0]).toMatchObject({ slice: 's1', allocation: 'provisioned', state: 'failed', routers: 2, links: 1, failed: 1 });
    expect(s.slices[0]!.svg).toContain('data-link="a" data-state="failed"');
    expect(s.tunnels).toEqual([{
      sliver: 's1/a', slice: 's1', link: 'a', node: 'n1', kind: 'vxlan', dataplane: 'kernel', key: 7, local: '198.18.0.1', remotes: ['198.18.0.2'],
      state: 'ready', error: '', rxPackets: 1, txPackets: 2, rxBytes: 3, txBytes: 4,
    }]);
  });

  it('draws a picture again only when the slice changed; forgets deleted slices', () => {
    const cache: PictureCache = new Map();
    pageState([manifest('s1', 'ready'), manifest('s2', 'ready')], [], { cache });
    const first = cache.get('s1');
    pageState([manifest('s1', 'ready'), manifest('s2', 'ready')], [{ ...tunnel, rxPackets: 99 }], { cache });
    expect(cache.get('s1')).toBe(first);
    const s = pageState([manifest('s1', 'failed')], [], { cache });
    expect(cache.get('s1')).not.toBe(first);
    expect(s.slices[0]!.svg).toContain('data-state="failed"');
    expect([...cache.keys()]).toEqual(['s1']);
  });

  it('shows a link\'s RTT when one is measured', () => {
    const s = pageState([manifest('s1', 'ready')], [], { rtt: () => new Map([['a', { p50Ms: 0.4 }]]) });
    expect(s.slices[0]!.svg).toContain('a: vxlan 0.40 ms');
  });
});
