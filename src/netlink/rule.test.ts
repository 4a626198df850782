// FIB rules: our encoding against iproute2's own (the same rule, `ip rule
// add` under strace, header and every attribute compared byte for byte), and
// a round trip through the kernel in a fresh namespace: add, add again
// (idempotent), list, delete, delete again.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIB_RULE_HDRLEN, RTPROT_VISP } from './constants.js';
import { parseAttrList } from './codec.js';
import { decodeRule, encodeRule, ruleAdd, ruleDel, ruleList, type RuleSpec } from './rule.js';
import { NetlinkSocket } from './socket.js';
import { ipIn, kernelSkipReason, makeNetns } from '../../test/helpers/netns.js';

/** The payload (after nlmsghdr) of the first RTM_NEWRULE `ip … rule add args…` sends. */
function iproute2Rule(ns: string, args: string[]): Buffer {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'strace', '-e', 'trace=sendmsg', '-e', 'write=3', 'ip', ...args], { encoding: 'utf8' });
  // strace's hex dump lines: " | 00000  ac 00 00 00 10 00 …  ascii |"
  const hex = r.stderr.split('\n').filter((l) => /^ \| [0-9a-f]{5} {2}/.test(l)).map((l) => l.slice(10, 58).replace(/ /g, '')).join('');
  const msg = Buffer.from(hex, 'hex');
  expect(msg.readUInt16LE(4), `ip ${args.join(' ')}: ${r.stderr.slice(0, 300)}`).toBe(32); // RTM_NEWRULE
  return msg.subarray(16, msg.readUInt32LE(0));
}

const cases: Array<[string, RuleSpec, string[]]> = [
  ['IPv4 from, table ≥ 256', { src: '203.0.113.0/24', table: 5000, priority: 10000 }, ['rule', 'add', 'from', '203.0.113.0/24', 'lookup', '5000', 'priority', '10000', 'protocol', '201']],
  ['IPv4 to, table < 256', { dst: '198.51.100.0/25', table: 100, priority: 9 }, ['rule', 'add', 'to', '198.51.100.0/25', 'lookup', '100', 'priority', '9', 'protocol', '201']],
  ['IPv6 to', { dst: '2001:db8:1000::/48', table: 70000, priority: 10000 }, ['-6', 'rule', 'add', 'to', '2001:db8:1000::/48', 'lookup', '70000', 'priority', '10000', 'protocol', '201']],
  ['IPv6 from, unreachable', { src: '2001:db8:1000::/48', action: 'unreachable', priority: 10001 }, ['-6', 'rule', 'add', 'from', '2001:db8:1000::/48', 'unreachable', 'priority', '10001', 'protocol', '201']],
  ['IPv4 from + to, blackhole', { src: '203.0.113.0/24', dst: '192.0.2.0/24', action: 'blackhole', priority: 7 }, ['rule', 'add', 'from', '203.0.113.0/24', 'to', '192.0.2.0/24', 'blackhole', 'priority', '7', 'protocol', '201']],
];

describe.skipIf(kernelSkipReason)('FIB rules', () => {
  let ns: string;
  let s: NetlinkSocket;
  beforeAll(() => { ns = makeNetns('rule'); s = new NetlinkSocket({ netns: ns }); });
  afterAll(() => s?.close());

  it.each(cases)('encoding matches iproute2 byte for byte: %s', (_n, spec, args) => {
    const ref = iproute2Rule(ns, args);
    const ours = encodeRule(spec);
    expect(ours.subarray(0, FIB_RULE_HDRLEN).toString('hex')).toBe(ref.subarray(0, FIB_RULE_HDRLEN).toString('hex'));
    const refAttrs = new Map(parseAttrList(ref, FIB_RULE_HDRLEN).map((a) => [a.type, a.data.toString('hex')]));
    const ourAttrs = parseAttrList(ours, FIB_RULE_HDRLEN);
    expect(ourAttrs.map((a) => a.type).sort()).toEqual([...refAttrs.keys()].sort());
    for (const a of ourAttrs) expect({ type: a.type, bytes: a.data.toString('hex') }).toEqual({ type: a.type, bytes: refAttrs.get(a.type) });
    ipIn(ns, ...args.map((x) => (x === 'add' ? 'del' : x)));
  });

  it('add (twice: idempotent), list (iproute2 agrees), delete (twice: already gone is success), IPv4 and IPv6', async () => {
    const rules: RuleSpec[] = [
      { src: '203.0.113.0/24', table: 5000, priority: 10000 },
      { dst: '203.0.113.0/24', table: 5000, priority: 10000 },
      { src: '203.0.113.0/24', action: 'unreachable', priority: 10001 },
      { src: '2001:db8:1000::/48', table: 5000, priority: 10000 },
      { dst: '2001:db8:1000::/48', table: 5000, priority: 10000 },
    ];
    for (const r of rules) await ruleAdd(s, r);
    await Promise.all(rules.map((r) => ruleAdd(s, r)));
    const ours = (await ruleList(s)).filter((r) => r.protocol === RTPROT_VISP);
    expect(ours).toEqual([
      { family: 2, src: '203.0.113.0/24', action: 'lookup', table: 5000, priority: 10000, protocol: RTPROT_VISP, flags: 0, other: [] },
      { family: 2, dst: '203.0.113.0/24', action: 'lookup', table: 5000, priority: 10000, protocol: RTPROT_VISP, flags: 0, other: [] },
      { family: 2, src: '203.0.113.0/24', action: 'unreachable', table: 0, priority: 10001, protocol: RTPROT_VISP, flags: 0, other: [] },
      { family: 10, src: '2001:db8:1000::/48', action: 'lookup', table: 5000, priority: 10000, protocol: RTPROT_VISP, flags: 0, other: [] },
      { family: 10, dst: '2001:db8:1000::/48', action: 'lookup', table: 5000, priority: 10000, protocol: RTPROT_VISP, flags: 0, other: [] },
    ]);
    // The kernel's own rules are listed too, and are not ours.
    const all = await ruleList(s, 2);
    expect(all.find((r) => r.table === 254)).toMatchObject({ action: 'lookup', priority: 32766 });
    expect(all.filter((r) => r.protocol === RTPROT_VISP)).toHaveLength(3);
    // iproute2, an independent decoder, sees the same.
    const ip4 = JSON.parse(ipIn(ns, '-j', 'rule', 'show')) as Array<Record<string, unknown>>;
    expect(ip4.filter((r) => r.protocol === '201').map((r) => `${r.priority} ${r.src ?? ''}/${r.srclen ?? ''} ${r.dst ?? ''}/${r.dstlen ?? ''} ${r.table ?? r.action}`)).toEqual([
      '10000 203.0.113.0/24 / 5000', '10000 all/ 203.0.113.0/24 5000', '10001 203.0.113.0/24 / unreachable',
    ]);
    for (const r of rules) await ruleDel(s, r);
    for (const r of rules) await ruleDel(s, r);
    expect((await ruleList(s)).filter((r) => r.protocol === RTPROT_VISP)).toEqual([]);
  });

  it('decodes a rule someone else made with other selectors as not plain (fwmark, iif)', async () => {
    ipIn(ns, 'rule', 'add', 'from', '192.0.2.0/24', 'fwmark', '7', 'iif', 'lo', 'lookup', '300', 'priority', '500');
    const r = (await ruleList(s, 2)).find((x) => x.priority === 500)!;
    expect(r).toMatchObject({ src: '192.0.2.0/24', table: 300, protocol: 0 });
    expect(r.other.length).toBeGreaterThan(0);
    ipIn(ns, 'rule', 'del', 'priority', '500');
  });

  it('refuses a rule it cannot encode', () => {
    expect(() => encodeRule({ src: '203.0.113.0/24', dst: '2001:db8::/32', table: 5000 })).toThrow(/different families/);
    expect(() => encodeRule({ table: 5000 })).toThrow(/family is required/);
    expect(() => encodeRule({ src: '203.0.113.0/24' })).toThrow(/needs a table/);
    expect(decodeRule(encodeRule({ family: 10, table: 5000, priority: 3 }))).toMatchObject({ family: 10, table: 5000, priority: 3, protocol: RTPROT_VISP });
  });
});
