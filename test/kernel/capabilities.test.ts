// The capability probe asks the kernel itself (a throwaway device of each
// kind in a scratch namespace). On this host GRE is absent, in the VM lane
// present (test/vm/gre-family.test.ts): both outcomes are asserted where
// they hold, never assumed. Where the kernel lacks a kind visp-engine can
// carry (etherip always; the GRE family without ip_gre), it is supported
// with dataplane 'userspace' — unless the engine is not built.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { IncompatibleStateError } from '../../src/errors.js';
import { capabilities, NodeKernel } from '../../src/endpoint/node.js';
import { netnsList } from '../../src/netlink/netns.js';
import { ENGINE_KINDS, engineUnavailableReason } from '../../src/tunnel/userspace.js';
import { kernelSkipReason, makeNetns, underlayPair } from '../helpers/netns.js';

/** Ask iproute2, independently, whether this kernel can create a kind. */
function kernelHas(kind: string): boolean {
  const ns = makeNetns('cap');
  const extra = kind.startsWith('ip6') ? ['local', '2001:db8::1', 'remote', '2001:db8::2'] : kind === 'vxlan' ? ['id', '1', 'dstport', '4789'] : ['local', '198.18.0.1', 'remote', '198.18.0.2'];
  const r = spawnSync('ip', ['-n', ns, 'link', 'add', 'x', 'type', kind, ...extra]);
  spawnSync('ip', ['netns', 'del', ns]);
  return r.status === 0;
}

describe.skipIf(kernelSkipReason)('capability probe', () => {
  it('agrees with iproute2 for every kernel kind, names the module when missing, and cleans up', async () => {
    const caps = await capabilities();
    for (const kind of ['vxlan', 'gre', 'gretap', 'ip6gre', 'ip6gretap'] as const) {
      const has = kernelHas(kind);
      const userspace = !has && !!ENGINE_KINDS[kind] && !engineUnavailableReason();
      expect(caps[kind].supported, kind).toBe(has || userspace);
      if (caps[kind].supported) expect(caps[kind].dataplane, kind).toBe(has ? 'kernel' : 'userspace');
      else expect(caps[kind].reason).toMatch(new RegExp(`kernel module ${kind.startsWith('ip6') ? 'ip6_gre' : 'ip_gre'} missing`));
    }
    expect(caps.etherip).toMatchObject(engineUnavailableReason()
      ? { supported: false, reason: expect.stringMatching(/not available on this node/) }
      : { supported: true, dataplane: 'userspace' });
    expect(netnsList().filter((n) => n.startsWith('visp-probe-'))).toEqual([]);
  });

  it('a spec of a missing kind fails cleanly (FAILED_PRECONDITION-style), building nothing', async () => {
    const caps = await capabilities();
    const missing = (['gretap', 'gre', 'etherip'] as const).filter((k) => !caps[k].supported);
    const u = underlayPair('capm');
    const x = makeNetns('capx');
    const k = new NodeKernel({ netns: u.a });
    try {
      for (const kind of missing) {
        const [r] = await k.reconcile([{ slice: 'sc', link: kind, group: 9001, kind, key: kind === 'etherip' ? 0 : 5, local: u.a4, remotes: [u.b4], netns: x, ifname: 'eth1', addresses: [] }]);
        expect(r!.error).toBeInstanceOf(IncompatibleStateError);
        expect(r!.error!.message).toMatch(new RegExp(`^${kind}: not available on this node`));
      }
      expect(await k.owned([x])).toEqual([]);
    } finally {
      k.close();
    }
  });
});
