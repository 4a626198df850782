// What visp asks visp-engine for, and how it compares the engine's answer:
// table-driven, no engine needed.
import { describe, expect, it } from 'vitest';
import type { EngineTunnelState } from '../dataplane/engine-client.js';
import { diffEngineTunnel, engineMac, engineSpecOf } from './userspace.js';
import type { TunnelSpec } from './types.js';

const t = (s: Partial<TunnelSpec>): TunnelSpec => ({ kind: 'etherip', name: 'vtabc', local: '198.18.0.1', remote: '198.18.0.2', key: 0, dataplane: 'userspace', ...s });

describe('engineSpecOf', () => {
  it.each<[string, TunnelSpec, Record<string, unknown>]>([
    ['etherip: no key, a MAC', t({}), { kind: 'etherip', key: undefined, mac: engineMac('vtabc'), underlayMtu: 1500 }],
    ['gretap: always keyed (key 0 too)', t({ kind: 'gretap', key: 0 }), { kind: 'gretap', key: 0, mac: engineMac('vtabc') }],
    ['ip6gretap → gretap (the family follows the addresses)', t({ kind: 'ip6gretap', key: 9, local: '2001:db8::1', remote: '2001:db8::2' }), { kind: 'gretap', key: 9, local: '2001:db8::1' }],
    ['gre: a TUN, no MAC', t({ kind: 'gre', key: 5 }), { kind: 'gre', key: 5, mac: undefined }],
    ['ip6gre → gre', t({ kind: 'ip6gre', key: 5, local: '2001:db8::1', remote: '2001:db8::2' }), { kind: 'gre', key: 5 }],
    ['underlay MTU passed on', t({ underlayMtu: 9000 }), { underlayMtu: 9000 }],
  ])('%s', (_n, spec, want) => {
    const got = engineSpecOf(spec) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(want)) {
      if (v === undefined) expect(got, k).not.toHaveProperty(k);
      else expect(got[k], k).toEqual(v);
    }
  });

  it('refuses a kind the engine does not carry', () => {
    expect(() => engineSpecOf(t({ kind: 'vxlan' }))).toThrow(/vxlan has no userspace data plane/);
  });
});

describe('engineMac', () => {
  it('is a stable, locally administered unicast address per name', () => {
    const m = engineMac('vtabc');
    expect(m).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(parseInt(m.slice(0, 2), 16) & 0x03).toBe(0x02);
    expect(engineMac('vtabc')).toBe(m);
    expect(engineMac('vtabd')).not.toBe(m);
  });
});

describe('diffEngineTunnel', () => {
  const have = (s: TunnelSpec): EngineTunnelState => {
    const e = engineSpecOf(s);
    return { name: e.name, kind: e.kind, local: e.local, remote: e.remote, key: e.key ?? null, mac: e.mac ?? null, underlayMtu: e.underlayMtu!, mtu: 1400,
      txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0, txDropOversize: 0, txDropError: 0, rxDropError: 0 };
  };
  it.each<[string, TunnelSpec, Partial<EngineTunnelState>, string[]]>([
    ['the same', t({ kind: 'gretap', key: 4 }), {}, []],
    ['a key', t({ kind: 'gretap', key: 4 }), { key: 3 }, ['key 3 → 4']],
    ['the remote', t({}), { remote: '198.18.0.9' }, ['remote 198.18.0.9 → 198.18.0.2']],
    ['the kind', t({ kind: 'gretap', key: 4 }), { kind: 'etherip', key: null }, ['kind etherip → gretap', 'key unset → 4']],
    ['the underlay MTU', t({}), { underlayMtu: 9000 }, ['underlay mtu 9000 → 1500']],
    ['an IPv6 address written in capitals is the same', t({ local: '2001:db8::1', remote: '2001:db8::2' }), { local: '2001:DB8::1' }, []],
  ])('%s', (_n, spec, change, want) => {
    expect(diffEngineTunnel(spec, { ...have(spec), ...change })).toEqual(want);
  });
});
