import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import { expectRefused } from '../../test/helpers/refused.js';
import { endpointFromPb, endpointToPb, linkFromPb, propertiesFromPb, propertiesToPb, registerFromPb, registerToPb, resourceToPb } from './convert.js';
import { propertiesChangeFromPb, shapersFromPb, shaperSupportToPb } from './shape-convert.js';

describe('link properties ↔ messages', () => {
  it('round-trip; all zero is unshaped (the field unset)', () => {
    const p = { capacity: 1e9, latency: 20_000, jitter: 500, loss: 0.005, corruption: 0.001, reorder: 0.01 };
    expect(propertiesFromPb(propertiesToPb(p), 'p')).toEqual(p);
    expect(propertiesToPb({ capacity: 0 })).toBeUndefined();
    expect(propertiesFromPb({ capacityBps: 0, latencyUs: 0, jitterUs: 0, loss: 0, corruption: 0, reorder: 0 }, 'p')).toBeUndefined();
    expect(propertiesFromPb(undefined, 'p')).toBeUndefined();
  });

  it.each([
    [{ capacityBps: -1 }, 'p.capacity_bps'],
    [{ latencyUs: 1.5 }, 'p.latency_us'],
    [{ loss: 'half' }, 'p.loss'],
    [{ reorder: Number.POSITIVE_INFINITY }, 'p.reorder'],
  ])('refuses %j naming %s', (v, field) => expectRefused(() => propertiesFromPb(v, 'p'), InvalidSpecError, field));

  it('a topology link and its members carry them', () => {
    const l = linkFromPb({ id: 'l', members: [{ node: 'r1' }, { node: 'r2', properties: { capacityBps: 5e6 } }], properties: { latencyUs: 1000 } }, 'topology.links[0]');
    expect(l.properties).toEqual({ latency: 1000 });
    expect(l.members).toEqual([{ node: 'r1' }, { node: 'r2', properties: { capacity: 5e6 } }]);
  });

  it('an endpoint of the desired state carries what it sends', () => {
    const e = { slice: 's', link: 'l', group: 1, kind: 'vxlan' as const, local: '198.18.0.1', remotes: ['198.18.0.2'], lan: false, key: 1, netns: 'x', ifname: 'eth1', addresses: [], adminDown: false, restart: 0, properties: { capacity: 1e6 } };
    expect(endpointFromPb(endpointToPb(e))).toEqual(e);
    const { properties: _p, ...bare } = e;
    expect(endpointFromPb(endpointToPb(bare))).toEqual(bare);
  });

  it('SetLinkPropertiesRequest → the change', () => {
    expect(propertiesChangeFromPb({ slice: 's', link: 'l', properties: { loss: 1 }, members: [{ node: 'r1', properties: { capacityBps: 1e6 } }, { node: 'r2' }] }))
      .toEqual({ slice: 's', change: { link: 'l', properties: { loss: 1 }, members: [{ node: 'r1', properties: { capacity: 1e6 } }, { node: 'r2' }] } });
    expect(propertiesChangeFromPb({ slice: 's', link: 'l' })).toEqual({ slice: 's', change: { link: 'l' } });
  });

  it('shaper support: round-trip; a qdisc this version does not know is left out', () => {
    const s = [{ qdisc: 'tbf' as const, supported: true }, { qdisc: 'netem' as const, supported: false, reason: 'kernel module sch_netem missing' }];
    expect(shapersFromPb([...s.map(shaperSupportToPb), { qdisc: 'cake', supported: true, reason: '' }])).toEqual(s);
  });

  it('Register carries what a node can shape and its underlay capacity; ListResources what is left of it', () => {
    const shapers = [{ qdisc: 'tbf' as const, supported: true }];
    const id = { underlay: ['198.18.0.1'], underlayMtu: {}, capabilities: [], shapers, underlayCapacity: 10e9 };
    expect(registerFromPb(registerToPb('n1', id, [], 'v') as never)).toMatchObject({ shapers, underlayCapacity: 10e9 });
    const bare = registerFromPb(registerToPb('n1', { ...id, shapers: [], underlayCapacity: undefined } as never, [], 'v') as never);
    expect(bare.shapers).toBeUndefined();
    expect(bare.underlayCapacity).toBeUndefined();
    const r = resourceToPb({ name: 'n1', connected: true, underlay: [], encapsulations: [], shapers, capacity: 1e9, available: { send: 4e8, receive: 1e9 } });
    expect(r).toMatchObject({ underlayCapacityBps: 1e9, availableSendBps: 4e8, availableReceiveBps: 1e9, shapers: [{ qdisc: 'tbf', supported: true, reason: '' }] });
  });
});
