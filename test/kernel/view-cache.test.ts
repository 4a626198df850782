// A node kernel keeps each namespace's view between passes while the
// kernel's notifications say nothing changed (src/endpoint/view-cache.ts):
// a pass over an unchanged node makes no dump, and a change by someone else
// — even one made just before the pass, not yet read by the event loop — is
// seen and repaired.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeKernel } from '../../src/endpoint/node.js';
import type { EndpointSpec } from '../../src/endpoint/spec.js';
import { ipIn, kernelSkipReason, makeNetns, underlayPair } from '../helpers/netns.js';
import { kernels, ok, ping } from '../helpers/nodes.js';

describe.skipIf(kernelSkipReason)('kept views', () => {
  let u: ReturnType<typeof underlayPair>;
  let A: NodeKernel, B: NodeKernel;
  let xa: string, xb: string;
  beforeAll(() => {
    u = underlayPair('vc');
    xa = makeNetns('vcea');
    xb = makeNetns('vceb');
    [A, B] = kernels(u.a, u.b);
  });
  afterAll(() => { A?.close(); B?.close(); });

  const spec = (side: 'a' | 'b'): EndpointSpec => ({
    slice: 'sv', link: 'l1', group: 7301, kind: 'vxlan', key: 7301, ifname: 'eth1',
    local: side === 'a' ? u.a4 : u.b4, remotes: [side === 'a' ? u.b4 : u.a4], netns: side === 'a' ? xa : xb,
    addresses: [side === 'a' ? '192.0.2.2/31' : '192.0.2.3/31'],
  });

  it('an unchanged node is reconciled without a dump; a device deleted just before a pass is rebuilt by it', async () => {
    ok(await A.reconcile([spec('a')]));
    ok(await B.reconcile([spec('b')]));
    // Until the kernel's own notifications about the new devices are over, passes read again.
    const end = Date.now() + 15_000;
    let quiet = false;
    while (!quiet && Date.now() < end) {
      const d = A.viewStats.dumps;
      expect(ok(await A.reconcile([spec('a')]))[0]!.steps).toEqual([]);
      quiet = A.viewStats.dumps === d;
      if (!quiet) await new Promise((r) => setTimeout(r, 300));
    }
    expect(quiet).toBe(true);
    const before = A.viewStats;
    const messages = A.messagesSent;
    expect(ok(await A.reconcile([spec('a')]))[0]!.steps).toEqual([]);
    expect(A.viewStats.dumps).toBe(before.dumps);
    expect(A.viewStats.hits).toBeGreaterThan(before.hits);
    expect(A.messagesSent).toBe(messages);

    // Deleted by hand (synchronously: the loop has not read the notification when the pass starts).
    ipIn(xa, 'link', 'del', 'eth1');
    const r = ok(await A.reconcile([spec('a')]));
    expect(r[0]!.steps.length).toBeGreaterThan(0);
    expect(ping(xa, '192.0.2.3')).toBe(true);
    // An address of ours removed by hand is put back by the next pass.
    ipIn(xa, 'addr', 'del', '192.0.2.2/31', 'dev', 'eth1');
    expect(ok(await A.reconcile([spec('a')]))[0]!.steps.join('\n')).toMatch(/192\.0\.2\.2\/31/);
  });
});
