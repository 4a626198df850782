// Our IFLA_INFO_DATA encoders must send what iproute2 sends for the same
// settings, byte for byte. iproute2 is the independent reference: we run
// `ip link add …` under strace, decode its RTM_NEWLINK, and compare every
// attribute we send with iproute2's attribute of the same type. This runs
// even where the kernel lacks the kind (the request is still sent).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { IFLA, IFLA_INFO } from '../../src/netlink/constants.js';
import { parseAttrList, parseAttrs, readStr } from '../../src/netlink/codec.js';
import { drivers } from '../../src/tunnel/index.js';
import type { TunnelSpec } from '../../src/tunnel/types.js';
import { delNetns, kernelSkipReason, makeNetns } from '../helpers/netns.js';

/** The IFLA_INFO_DATA attributes of the first RTM_NEWLINK `ip link add args…` sends. */
function iproute2InfoData(ns: string, args: string[]): { kind: string; attrs: Map<number, string> } {
  // strace reports on stderr, whether or not the kernel accepted the request.
  const out = spawnSync('ip', ['netns', 'exec', ns, 'strace', '-e', 'trace=sendmsg', '-e', 'write=3', 'ip', 'link', 'add', ...args],
    { encoding: 'utf8' }).stderr;
  // strace's hex dump lines: " | 00000  ac 00 00 00 10 00 …  ascii |"
  const hex = out.split('\n').filter((l) => /^ \| [0-9a-f]{5} {2}/.test(l)).map((l) => l.slice(10, 58).replace(/ /g, '')).join('');
  const msg = Buffer.from(hex, 'hex');
  const len = msg.readUInt32LE(0);
  const top = parseAttrs(msg, 16 + 16, len);
  const info = parseAttrs(top.get(IFLA.LINKINFO)!);
  const data = new Map(parseAttrList(info.get(IFLA_INFO.DATA)!).map((a) => [a.type, a.data.toString('hex')]));
  return { kind: readStr(info.get(IFLA_INFO.KIND))!, attrs: data };
}

const v4 = { local: '198.18.0.1', remote: '198.18.0.2' };
const v6 = { local: '2001:db8:ff::1', remote: '2001:db8:ff::2' };

const cases: Array<[string, TunnelSpec, string[]]> = [
  ['vxlan over IPv4', { kind: 'vxlan', name: 'w0', key: 4711, ...v4, dstPort: 4789 },
    ['type', 'vxlan', 'id', '4711', 'local', v4.local, 'remote', v4.remote, 'dstport', '4789', 'nolearning', 'ttl', '64']],
  ['vxlan over IPv6, multipoint (no remote)', { kind: 'vxlan', name: 'w0', key: 16777215, local: v6.local, dstPort: 8472 },
    ['type', 'vxlan', 'id', '16777215', 'local', v6.local, 'dstport', '8472', 'nolearning', 'ttl', '64']],
  ['gretap', { kind: 'gretap', name: 'w0', key: 77, ...v4 }, ['type', 'gretap', 'local', v4.local, 'remote', v4.remote, 'key', '77', 'ttl', '64']],
  ['gre', { kind: 'gre', name: 'w0', key: 0xfffffffe, ...v4 }, ['type', 'gre', 'local', v4.local, 'remote', v4.remote, 'key', String(0xfffffffe), 'ttl', '64']],
  ['ip6gretap', { kind: 'ip6gretap', name: 'w0', key: 9, ...v6 },
    ['type', 'ip6gretap', 'local', v6.local, 'remote', v6.remote, 'key', '9', 'ttl', '64', 'encaplimit', 'none']],
  ['ip6gre', { kind: 'ip6gre', name: 'w0', key: 9, ...v6 },
    ['type', 'ip6gre', 'local', v6.local, 'remote', v6.remote, 'key', '9', 'ttl', '64', 'encaplimit', 'none']],
];

describe.skipIf(kernelSkipReason)('tunnel attribute encoding matches iproute2 byte for byte', () => {
  it.each(cases)('%s', (_name, spec, args) => {
    const ns = makeNetns('wire');
    try {
      const ref = iproute2InfoData(ns, ['w0', ...args]);
      const d = drivers[spec.kind];
      expect(ref.kind).toBe(d.linkKind);
      const ours = parseAttrList(Buffer.concat(d.encode(spec)));
      expect(ours.length).toBeGreaterThan(3);
      for (const a of ours) {
        expect({ type: a.type, bytes: a.data.toString('hex') }).toEqual({ type: a.type, bytes: ref.attrs.get(a.type) });
      }
    } finally {
      delNetns(ns);
    }
  });
});
