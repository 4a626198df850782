// A point-to-point endpoint's tunnel and veth joined by tc redirect, no
// bridge (src/bridge/redirect.ts), on the real kernel: what our decoder
// reads back is the join; every way of spoiling it by hand (the clsact
// gone, one filter gone, a foreign filter beside ours, the tunnel put on a
// bridge) is planned, named and repaired, with traffic across afterwards;
// a probe-ethertype frame from the experiment never leaves over the tunnel,
// and one arriving over the tunnel never reaches the experiment.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinedRules, joinProblems, readIngress } from '../../src/bridge/redirect.js';
import type { NodeKernel } from '../../src/endpoint/node.js';
import type { EndpointSpec } from '../../src/endpoint/spec.js';
import { resolveEndpoint } from '../../src/endpoint/spec.js';
import { NetlinkSocket } from '../../src/netlink/socket.js';
import { execIn, ipIn, ipLink, kernelSkipReason, makeNetns, sh, underlayPair } from '../helpers/netns.js';
import { kernels, ok, ping } from '../helpers/nodes.js';

describe.skipIf(kernelSkipReason)('redirect join on the real kernel', () => {
  let u: ReturnType<typeof underlayPair>;
  let A: NodeKernel, B: NodeKernel;
  let xa: string, xb: string;
  const common = { slice: 'rj', link: 'l1', group: 7101, kind: 'vxlan' as const, key: 4901, ifname: 'eth1' };
  let sa: EndpointSpec, sb: EndpointSpec;
  let vt: string, vh: string;

  beforeAll(async () => {
    u = underlayPair('rj');
    xa = makeNetns('rjxa');
    xb = makeNetns('rjxb');
    // Nothing of the experiments' own on the wire (router solicitations, DAD) to blur the counters below.
    for (const x of [xa, xb]) execIn(x, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    [A, B] = kernels(u.a, u.b);
    sa = { ...common, local: u.a4, remotes: [u.b4], netns: xa, addresses: ['192.0.2.0/31'] };
    sb = { ...common, local: u.b4, remotes: [u.a4], netns: xb, addresses: ['192.0.2.1/31'] };
    ok(await A.reconcile([sa]));
    ok(await B.reconcile([sb]));
    const r = resolveEndpoint(sa);
    [vt, vh] = [r.tunnels[0]!.name, r.vethHost];
  });
  afterAll(() => { A?.close(); B?.close(); });

  const index = (name: string): number => ipLink(u.a, name).ifindex as number;

  it('reads back as exactly the join, each way, and carries traffic', async () => {
    const s = new NetlinkSocket({ netns: u.a });
    try {
      expect(await readIngress(s, index(vt))).toEqual(joinedRules(index(vh)));
      expect(await readIngress(s, index(vh))).toEqual(joinedRules(index(vt)));
      expect(joinProblems(await readIngress(s, index(vt)), index(vh))).toEqual([]);
    } finally { s.close(); }
    expect(ping(xa, '192.0.2.1')).toBe(true);
  });

  it.each<[string, () => void, RegExp]>([
    ['the clsact qdisc deleted', () => { sh('tc', ['-n', u.a, 'qdisc', 'del', 'dev', vt, 'clsact']); }, /→ .* redirect \(not joined\)/],
    ['the redirect filter deleted', () => { sh('tc', ['-n', u.a, 'filter', 'del', 'dev', vh, 'ingress', 'pref', '2']); }, /redirect missing or changed/],
    ['the probe filter deleted', () => { sh('tc', ['-n', u.a, 'filter', 'del', 'dev', vt, 'ingress', 'pref', '1']); }, /probe filter missing or changed/],
    ['a foreign filter added beside ours', () => { sh('tc', ['-n', u.a, 'filter', 'add', 'dev', vh, 'ingress', 'pref', '7', 'protocol', 'ip', 'u32', 'match', 'u32', '0', '0', 'classid', '1:2']); }, /foreign filter at prio 7/],
    ['the clsact swapped for an ingress qdisc', () => {
      sh('tc', ['-n', u.a, 'qdisc', 'del', 'dev', vh, 'clsact']);
      sh('tc', ['-n', u.a, 'qdisc', 'add', 'dev', vh, 'ingress']);
    }, /→ .* redirect \(not joined\)/],
    ['the anchor brought up (it would forward between links)', () => { ipIn(u.a, 'link', 'set', 'visp-pmtu', 'up'); }, /anchor bridge visp-pmtu, down, marked: up → down/],
    ['the tunnel put on a bridge by hand', () => {
      ipIn(u.a, 'link', 'add', 'rjbr', 'type', 'bridge');
      ipIn(u.a, 'link', 'set', vt, 'master', 'rjbr');
    }, /master ifindex \d+ → anchor/],
  ])('%s: planned, named, repaired', async (_what, spoil, step) => {
    spoil();
    const r = ok(await A.reconcile([sa]));
    expect(r[0]!.steps.join('\n')).toMatch(step);
    expect(ok(await A.reconcile([sa]))[0]!.steps).toEqual([]);
    const s = new NetlinkSocket({ netns: u.a });
    try {
      expect(await readIngress(s, index(vt))).toEqual(joinedRules(index(vh)));
      expect(await readIngress(s, index(vh))).toEqual(joinedRules(index(vt)));
    } finally { s.close(); }
    expect(ping(xa, '192.0.2.1')).toBe(true);
    try { ipIn(u.a, 'link', 'del', 'rjbr'); } catch { /* only the last case made it */ }
  });

  /** 100 frames of ethertype `type` sent from interface `dev` in `ns` (Python: no extra tools). */
  const send = (ns: string, dev: string, type: string): void => {
    execIn(ns, 'python3', '-c', `import socket
s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW)
s.bind((${JSON.stringify(dev)},0))
f=b'\\xff'*6+b'\\x02\\x00\\x00\\x00\\x00\\x07'+bytes.fromhex(${JSON.stringify(type)})+bytes(60)
for i in range(100): s.send(f)
`);
  };
  const counter = (ns: string, dev: string, which: 'tx_packets' | 'rx_packets'): number => Number(execIn(ns, 'cat', `/sys/class/net/${dev}/statistics/${which}`));

  it('a probe-ethertype frame from the experiment never leaves over the tunnel; an ordinary one does', () => {
    const t0 = counter(u.a, vt, 'tx_packets');
    send(xa, 'eth1', '88b5');
    const t1 = counter(u.a, vt, 'tx_packets');
    send(xa, 'eth1', '88b6');
    const t2 = counter(u.a, vt, 'tx_packets');
    expect(t1 - t0).toBeLessThan(5);
    expect(t2 - t1).toBeGreaterThanOrEqual(100);
  });

  it('a probe-ethertype frame arriving over the tunnel stays in the node; an ordinary one reaches the experiment', () => {
    const vtB = resolveEndpoint(sb).tunnels[0]!.name;
    const r0 = counter(xa, 'eth1', 'rx_packets');
    send(u.b, vtB, '88b5');
    const r1 = counter(xa, 'eth1', 'rx_packets');
    send(u.b, vtB, '88b6');
    const r2 = counter(xa, 'eth1', 'rx_packets');
    expect(counter(u.a, vt, 'rx_packets')).toBeGreaterThanOrEqual(200);
    expect(r1 - r0).toBeLessThan(5);
    expect(r2 - r1).toBeGreaterThanOrEqual(100);
  });
});
