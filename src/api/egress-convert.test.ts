// Every converter of egress-convert.ts, with what it should convert and with
// garbage: refused with a VispError naming the field, never a TypeError.
import { describe, expect, it } from 'vitest';
import { IncompatibleStateError, InvalidSpecError } from '../errors.js';
import type { EgressDesired, EgressStatus } from '../bgp/desired.js';
import type { EgressConfig } from '../controller/model.js';
import { expectRefused } from '../../test/helpers/refused.js';
import { bgpNodeToPb, configFromPb, configToPb, desiredFromPb, desiredToPb, providerFromPb, statusFromPb, statusToPb } from './egress-convert.js';

const config: EgressConfig = {
  node: 'e1', asn: 64500, routerId: '198.18.1.1', maxLength: { ipv4: 25 },
  providers: [{ address: '198.18.1.2', asn: 64501, families: ['ipv4'], maxPrefixes: 100, password: 'pw' }],
};
const desired: EgressDesired = {
  asn: 64500, routerId: '198.18.1.1', providers: [{ address: '2001:db8:ff01::2', asn: 64501, families: ['ipv6'], maxPrefixes: 1000 }],
  maxLength: { ipv4: 24, ipv6: 48 },
  slices: [{ slice: 's', table: 4096, blocks: ['203.0.113.0/25'], nextHops: [{ address: '203.0.113.1', dev: 'vbabcdefgh' }], routes: 'full' }],
};
const status: EgressStatus = {
  enabled: true, running: true, pid: 42, error: 'x',
  peers: [{ address: '198.18.1.2', asn: 64501, state: 'established', since: Date.UTC(2030, 0, 1), received: 3, accepted: 2, advertised: 1 }],
  slices: [{ slice: 's', announced: ['203.0.113.0/25'], routesInstalled: 2, table: 4096 }],
};

describe('round trips', () => {
  it.each<[string, () => unknown, unknown]>([
    ['config', () => configFromPb(configToPb(config)), config],
    ['desired', () => desiredFromPb(desiredToPb(desired)), desired],
    ['no desired egress', () => desiredFromPb(desiredToPb(undefined)), undefined],
    ['status', () => statusFromPb(statusToPb(status)), status],
    ['no status', () => statusFromPb(statusToPb(undefined)), undefined],
    ['a provider with defaults: its address\'s family, 1,000 prefixes', () => providerFromPb({ address: '2001:db8::1', asn: 1, families: [], maxPrefixes: 0, password: '' }, 'p'),
      { address: '2001:db8::1', asn: 1, families: ['ipv6'], maxPrefixes: 1000 }],
  ])('%s', (_what, f, want) => expect(f()).toEqual(want));
});

describe('from messages, garbage', () => {
  const pbConfig = (): Record<string, any> => JSON.parse(JSON.stringify(configToPb(config))) as Record<string, any>;
  const pbDesired = (): Record<string, any> => JSON.parse(JSON.stringify(desiredToPb(desired))) as Record<string, any>;
  const pbStatus = (): Record<string, any> => JSON.parse(JSON.stringify(statusToPb(status))) as Record<string, any>;
  const edit = <T>(x: T, f: (v: T) => void): T => { f(x); return x; };

  it.each<[string, () => unknown, string]>([
    ['no config', () => configFromPb(null), 'config'],
    ['a string for the config', () => configFromPb('e1'), 'config'],
    ['a string for the ASN', () => configFromPb({ ...pbConfig(), asn: '64500' }), 'config.asn'],
    ['a negative ASN', () => configFromPb({ ...pbConfig(), asn: -1 }), 'config.asn'],
    ['a null provider', () => configFromPb({ ...pbConfig(), providers: [null] }), 'config.providers[0]'],
    ['an unknown family', () => configFromPb(edit(pbConfig(), (c) => { c.providers[0].families = ['ipv5']; })), 'config.providers[0].families[0]'],
    ['a number for a family', () => configFromPb(edit(pbConfig(), (c) => { c.providers[0].families = [4]; })), 'config.providers[0].families[0]'],
    ['a number for a password', () => configFromPb(edit(pbConfig(), (c) => { c.providers[0].password = 1234; })), 'config.providers[0].password'],
    ['a string for max_length_v4', () => configFromPb({ ...pbConfig(), maxLengthV4: '/25' }), 'config.max_length_v4'],
    ['a string for enabled', () => desiredFromPb({ ...pbDesired(), enabled: 'true' }), 'egress.enabled'],
    ['a string for the slices', () => desiredFromPb({ ...pbDesired(), slices: 's' }), 'egress.slices'],
    ['unknown routes', () => desiredFromPb(edit(pbDesired(), (d) => { d.slices[0].routes = 'some'; })), 'egress.slices[0].routes'],
    ['a null next hop', () => desiredFromPb(edit(pbDesired(), (d) => { d.slices[0].nextHops = [null]; })), 'egress.slices[0].next_hops[0]'],
    ['a number for a block', () => desiredFromPb(edit(pbDesired(), (d) => { d.slices[0].blocks = [7]; })), 'egress.slices[0].blocks[0]'],
    ['a null provider in desired', () => desiredFromPb({ ...pbDesired(), providers: [null] }), 'egress.providers[0]'],
    ['a since that is not a time', () => statusFromPb(edit(pbStatus(), (s) => { s.peers[0].since = 'yesterday'; })), 'egress.peers[0].since'],
    ['a number for since', () => statusFromPb(edit(pbStatus(), (s) => { s.peers[0].since = 5; })), 'egress.peers[0].since'],
    ['a string for received', () => statusFromPb(edit(pbStatus(), (s) => { s.peers[0].received = 'many'; })), 'egress.peers[0].received'],
    ['a null slice status', () => statusFromPb({ ...pbStatus(), slices: [null] }), 'egress.slices[0]'],
    ['a string for the status', () => statusFromPb('up'), 'egress'],
  ])('refuses %s', (_what, f, field) => expectRefused(f, InvalidSpecError, field));
});

describe('into messages, garbage', () => {
  it.each<[string, () => unknown, string]>([
    ['no config', () => configToPb(null as never), 'config'],
    ['a null provider', () => configToPb({ ...config, providers: [null as never] }), 'config.providers[0]'],
    ['a string for a max length', () => configToPb({ ...config, maxLength: { ipv4: '25' as never } }), 'config.max_length_v4'],
    ['desired without max lengths', () => desiredToPb({ ...desired, maxLength: undefined as never }), 'egress.max_length'],
    ['desired slice routes unknown', () => desiredToPb({ ...desired, slices: [{ ...desired.slices[0]!, routes: 'some' as never }] }), 'egress.slices[0].routes'],
    ['a status since that is not a time', () => statusToPb({ ...status, peers: [{ ...status.peers[0]!, since: Infinity }] }), 'egress.peers[0].since'],
    ['a string for a pid', () => statusToPb({ ...status, pid: '42' as never }), 'egress.pid'],
    ['a null peer', () => statusToPb({ ...status, peers: [null as never] }), 'egress.peers[0]'],
  ])('refuses %s', (_what, f, field) => expectRefused(f, IncompatibleStateError, field));
});

describe('bgpNodeToPb (ListBgp)', () => {
  it.each<[string, () => unknown, unknown]>([
    ['a node with its report', () => bgpNodeToPb({ node: 'e1', connected: true, config, status }), {
      node: 'e1', connected: true, config: configToPb(config), running: true, error: 'x', pid: 42, peers: statusToPb(status).peers, slices: statusToPb(status).slices,
    }],
    ['a node that never reported', () => bgpNodeToPb({ node: 'e1', connected: false, config }),
      { node: 'e1', connected: false, config: configToPb(config), running: false, error: '', pid: 0, peers: [], slices: [] }],
  ])('%s', (_what, f, want) => expect(f()).toEqual(want));

  it.each<[string, () => unknown, string]>([
    ['a string for a pid, in a list', () => [{ node: 'e1', connected: true, config, status: { ...status, pid: '42' as never } }].map(bgpNodeToPb), 'nodes[0].pid'],
    ['no config', () => bgpNodeToPb({ node: 'e1', connected: true, config: null as never }), 'node.config'],
  ])('refuses to send %s', (_what, f, field) => expectRefused(f, IncompatibleStateError, field));
});
