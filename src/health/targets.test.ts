import { describe, expect, it } from 'vitest';
import type { EndpointSpec } from '../endpoint/spec.js';
import { endpointNames } from '../endpoint/names.js';
import { kinds, TUNNEL_KINDS } from '../tunnel/kinds.js';
import { probeTargets } from './targets.js';

const spec = (over: Partial<EndpointSpec>): EndpointSpec => ({
  slice: 's', link: 'l', group: 4097, kind: 'vxlan', local: '198.18.0.1', remotes: ['198.18.0.2'], key: 42,
  netns: 'visp-s:r1', ifname: 'eth1', addresses: ['192.0.2.0/31'], ...over,
});
const names = endpointNames('s', 'l');

describe('which endpoints a node probes, over which devices', () => {
  it('a point-to-point VXLAN: its one device, one pair', () => {
    expect(probeTargets([{ spec: spec({}), ready: true }])).toEqual([{ key: 's/l', local: '198.18.0.1', what: 'vxlan VNI 42', pairs: [{ remote: '198.18.0.2', device: names.tunnel() }] }]);
  });
  it('a VXLAN LAN: one device, a pair per member', () => {
    const t = probeTargets([{ spec: spec({ remotes: ['198.18.0.2', '198.18.0.3'], lan: true }), ready: true }]);
    expect(t[0]!.pairs).toEqual([{ remote: '198.18.0.2', device: names.tunnel() }, { remote: '198.18.0.3', device: names.tunnel() }]);
  });
  it('a gretap LAN (a mesh): a device per member; EtherIP names no key', () => {
    const t = probeTargets([{ spec: spec({ kind: 'gretap', remotes: ['198.18.0.2', '198.18.0.3'] }), ready: true }, { spec: spec({ kind: 'etherip', key: 0 }), ready: true }]);
    expect(t[0]!.pairs).toEqual([{ remote: '198.18.0.2', device: names.tunnel('198.18.0.2') }, { remote: '198.18.0.3', device: names.tunnel('198.18.0.3') }]);
    expect(t[0]!.what).toBe('gretap key 42');
    expect(t[1]!.what).toBe('etherip');
  });
  it('the loss its own link properties ask for goes with it', () => {
    expect(probeTargets([{ spec: spec({ properties: { loss: 0.3 } }), ready: true }])[0]!.configuredLoss).toBe(0.3);
    expect(probeTargets([{ spec: spec({ properties: { capacity: 1e6 } }), ready: true }])[0]!.configuredLoss).toBeUndefined();
  });
  it('not probed: not ready, stopped, a layer-3 kind', () => {
    expect(probeTargets([
      { spec: spec({}), ready: false }, { spec: spec({ adminDown: true }), ready: true }, { spec: spec({ kind: 'gre' }), ready: true },
    ])).toEqual([]);
  });
  it('every layer-2 kind is probed by frames; no layer-3 kind is (its device is in the experiment\'s namespace)', () => {
    for (const k of TUNNEL_KINDS) expect(kinds[k].healthProbe, k).toBe(kinds[k].layer === 2 ? 'frame' : undefined);
  });
});
