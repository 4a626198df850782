// resolveEgress (validation) and planEgress (diff → steps), no daemons.
import { describe, expect, it } from 'vitest';
import { describeStep, planEgress, resolveEgress, type EgressSpec, type EgressState } from '../../src/bgp/reconcile.js';

const base: EgressSpec = {
  asn: 64500,
  routerId: '198.18.1.1',
  providers: [{ address: '198.18.1.2', asn: 64501, families: ['ipv4'], maxPrefixes: 100 }],
  announcements: [{ prefix: '203.0.113.0/25', allowed: '203.0.113.0/24' }],
};

describe('resolveEgress refuses unsafe or malformed specs', () => {
  const cases: Array<[string, Partial<EgressSpec>, RegExp]> = [
    ['prefix outside the block', { announcements: [{ prefix: '203.0.113.0/24', allowed: '203.0.113.0/25' }] }, /not inside/],
    ['prefix in another family', { announcements: [{ prefix: '2001:db8::/48', allowed: '203.0.113.0/24' }] }, /not inside/],
    ['more specific than the default /24', { announcements: [{ prefix: '203.0.113.0/25', allowed: '203.0.113.0/24' }], maxLength: {} }, /more specific than \/24/],
    ['more specific than /48 (IPv6)', { announcements: [{ prefix: '2001:db8::/56', allowed: '2001:db8::/32' }], maxLength: {} }, /more specific than \/48/],
    ['host bits set', { announcements: [{ prefix: '203.0.113.1/24', allowed: '203.0.113.0/24' }] }, /host bits/],
    ['IPv6 router id', { routerId: '2001:db8::1' }, /dotted quad/],
    ['our own ASN as provider', { providers: [{ address: '198.18.1.2', asn: 64500, families: ['ipv4'], maxPrefixes: 1 }] }, /eBGP/],
    ['no max-prefix', { providers: [{ address: '198.18.1.2', asn: 64501, families: ['ipv4'], maxPrefixes: 0 }] }, /maxPrefixes/],
    ['no family', { providers: [{ address: '198.18.1.2', asn: 64501, families: [], maxPrefixes: 1 }] }, /families/],
    ['duplicate provider', { providers: [base.providers[0]!, base.providers[0]!] }, /twice/],
    ['ASN 0', { asn: 0 }, /ASN/],
  ];
  it.each(cases)('%s', (_name, patch, err) => {
    const spec = { ...base, maxLength: { ipv4: 25 }, ...patch };
    expect(() => resolveEgress(spec)).toThrow(err);
  });

  it('accepts a prefix as long as maxLength allows, and records the allowed range', () => {
    const r = resolveEgress({ ...base, maxLength: { ipv4: 25 } });
    expect([...r.announce.keys()]).toEqual(['203.0.113.0/25']);
    expect([...r.allowed.values()]).toEqual([{ family: 'ipv4', block: '203.0.113.0/24', min: 24, max: 25 }]);
  });
});

describe('planEgress', () => {
  const want = resolveEgress({ ...base, maxLength: { ipv4: 25 } });
  const empty: EgressState = { peers: new Map(), paths: new Set(), allowed: new Map(), policyOk: false, policyExists: false };
  const converged: EgressState = {
    peers: new Map(want.providers),
    paths: new Set(want.announce.keys()),
    allowed: new Map(want.allowed),
    own: new Map(want.own),
    policyOk: true,
    policyExists: true,
  };

  it('from nothing: policies first, then our space refused from providers, the allowed set, the peer, the path', () => {
    expect(planEgress(want, empty).map(describeStep)).toEqual([
      'install export policy visp-egress-export and import policy visp-egress-import',
      'refuse 203.0.113.0/24 24..32 from providers',
      'allow 203.0.113.0/24 24..25',
      'add peer 198.18.1.2 AS64501',
      'announce 203.0.113.0/25',
    ]);
  });

  it('converged: no steps (idempotent)', () => {
    expect(planEgress(want, converged)).toEqual([]);
  });

  it('withdraws before it narrows the allowed set; removes unknown peers; replaces changed ones', () => {
    const none = resolveEgress({ ...base, providers: [{ ...base.providers[0]!, maxPrefixes: 5 }], announcements: [] });
    const state: EgressState = { ...converged, peers: new Map([...converged.peers, ['198.18.9.9', { ...converged.peers.get('198.18.1.2')!, address: '198.18.9.9' }]]) };
    expect(planEgress(none, state).map(describeStep)).toEqual([
      'delete peer 198.18.1.2',
      'delete peer 198.18.9.9',
      'add peer 198.18.1.2 AS64501',
      'withdraw 203.0.113.0/25',
      'disallow 203.0.113.0/24 24..25',
      'stop refusing 203.0.113.0/24 from providers',
    ]);
  });

  it('a policy changed behind our back is replaced, and the peers re-created (to pull back what leaked)', () => {
    expect(planEgress(want, { ...converged, policyOk: false }).map(describeStep)).toEqual([
      'replace export policy visp-egress-export and import policy visp-egress-import', 'delete peer 198.18.1.2', 'add peer 198.18.1.2 AS64501',
    ]);
  });
});
