import { describe, expect, it } from 'vitest';
import { UsageError } from './args.js';
import { bgpText, parseProvider } from './bgp.js';

describe('visp egress/bgp', () => {
  it('parses a provider flag', () => {
    expect(parseProvider('198.18.1.2,64501')).toEqual({ address: '198.18.1.2', asn: 64501 });
    expect(parseProvider('2001:db8:ff01::2,64501,password=s3cret,families=ipv6,max-prefixes=500'))
      .toEqual({ address: '2001:db8:ff01::2', asn: 64501, password: 's3cret', families: ['ipv6'], maxPrefixes: 500 });
  });

  it.each([
    ['198.18.1.2', /needs an address and an ASN/],
    ['198.18.1.2,AS1', /"AS1" is not an ASN/],
    ['198.18.1.2,1,colour=red', /unknown option "colour"/],
    ['198.18.1.2,1,password', /"password" is not key=value/],
    ['198.18.1.2,1,max-prefixes=-3', /max-prefixes/],
  ])('refuses --provider %s naming the flag', (text, why) => {
    expect(() => parseProvider(text)).toThrow(UsageError);
    expect(() => parseProvider(text)).toThrow(why);
  });

  it('prints sessions and slices, and says how to configure when there is nothing', () => {
    expect(bgpText([])).toMatch(/no egress nodes \(configure one with: visp egress set/);
    const since = new Date(Date.now() - 3725_000).toISOString();
    const text = bgpText([{
      node: 'egr', connected: true, running: true, pid: 42, error: '',
      config: { node: 'egr', asn: 64500, routerId: '198.18.1.1', providers: [], maxLengthV4: 0, maxLengthV6: 0 },
      peers: [{ address: '198.18.1.2', asn: 64501, state: 'established', since, received: 3, accepted: 3, advertised: 1 }],
      slices: [{ slice: 's1', table: 4100, announced: ['203.0.113.0/28'], routesInstalled: 3 }],
    }]);
    expect(text).toContain('egress node egr: AS64500, router id 198.18.1.1, agent connected, speaker running (gobgpd pid 42)');
    expect(text).toMatch(/198\.18\.1\.2\s+64501\s+established\s+1h2m/);
    expect(text).toMatch(/s1\s+4100\s+203\.0\.113\.0\/28\s+3/);
  });
});
