import { describe, expect, it } from 'vitest';
import { addCommand, type EngineTunnelSpec } from './engine-client.js';

const base: EngineTunnelSpec = { name: 'eip0', kind: 'etherip', local: '198.18.0.1', remote: '198.18.0.2' };

describe('addCommand', () => {
  const good: Array<[string, EngineTunnelSpec, string]> = [
    ['etherip', base, 'add name=eip0 kind=etherip local=198.18.0.1 remote=198.18.0.2'],
    ['gretap with key and mtu', { ...base, name: 'gt0', kind: 'gretap', key: 4294967295, underlayMtu: 9000 },
      'add name=gt0 kind=gretap local=198.18.0.1 remote=198.18.0.2 key=4294967295 mtu=9000'],
    ['with a MAC', { ...base, mac: '02:00:5E:00:00:01' }, 'add name=eip0 kind=etherip local=198.18.0.1 remote=198.18.0.2 mac=02:00:5e:00:00:01'],
    ['gretap without key', { ...base, kind: 'gretap' }, 'add name=eip0 kind=gretap local=198.18.0.1 remote=198.18.0.2'],
    ['gre (layer 3, TUN) with key', { ...base, name: 'gre0', kind: 'gre', key: 7 }, 'add name=gre0 kind=gre local=198.18.0.1 remote=198.18.0.2 key=7'],
    ['gre over an IPv6 underlay (ip6gre)', { ...base, kind: 'gre', local: '2001:db8:ff::1', remote: '2001:db8:ff::2', underlayMtu: 1400 },
      'add name=eip0 kind=gre local=2001:db8:ff::1 remote=2001:db8:ff::2 mtu=1400'],
    ['IPv6 underlay', { ...base, local: '2001:db8:ff::1', remote: '2001:db8:ff::2' },
      'add name=eip0 kind=etherip local=2001:db8:ff::1 remote=2001:db8:ff::2'],
  ];
  it.each(good)('%s', (_, spec, line) => expect(addCommand(spec)).toBe(line));

  const bad: Array<[string, EngineTunnelSpec, RegExp]> = [
    ['space in a name (would split the line)', { ...base, name: 'a b' }, /name/],
    ['newline in an address', { ...base, remote: '198.18.0.2\nlist' }, /remote/],
    ['name over 15 bytes', { ...base, name: 'a-very-long-tap-name' }, /15 bytes/],
    ['key on etherip', { ...base, key: 1 }, /key/],
    ['key too large', { ...base, kind: 'gretap', key: 2 ** 32 }, /key/],
    ['multicast MAC', { ...base, mac: '01:00:5e:00:00:01' }, /mac/],
    ['short MAC', { ...base, mac: '02:00:5e:00:01' }, /mac/],
    ['MAC on gre (a TUN has none)', { ...base, kind: 'gre', mac: '02:00:5e:00:00:01' }, /MAC/],
    ['unknown kind', { ...base, kind: 'vxlan' as EngineTunnelSpec['kind'] }, /kind/],
    ['negative key', { ...base, kind: 'gretap', key: -1 }, /key/],
  ];
  it.each(bad)('rejects %s', (_, spec, re) => expect(() => addCommand(spec)).toThrow(re));
});
