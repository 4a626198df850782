// The probe guard on a real kernel, in a namespace of its own: the prober
// puts it in place, and puts it back when it is gone (a firewall reload's
// `nft flush ruleset`) or changed (a rule before its drops), and says so.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guardPresent } from './guard.js';
import { HealthProber, type ProbeTarget } from './prober.js';

const ns = `visp-guard-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const nft = (...args: string[]): string => execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8' });
const targets: ProbeTarget[] = [{ key: 's/l', local: '198.18.0.1', what: 'vxlan VNI 7', pairs: [{ remote: '198.18.0.2', device: 'absent0' }] }];

describe('probe guard', () => {
  beforeAll(() => { execFileSync('ip', ['netns', 'add', ns]); });
  afterAll(() => { execFileSync('ip', ['netns', 'del', ns]); });

  it('is put in place by the first pass, and back after a flush or a rule ahead of its drops, with an error that says so', async () => {
    expect(await guardPresent(ns)).toBe(false);
    const p = new HealthProber({ netns: ns, guardCheckMs: 0 });
    const errors: string[] = [];
    p.on('error', (e) => errors.push(e.message));
    try {
      await p.setTargets(targets);
      expect(await guardPresent(ns)).toBe(true);
      await p.setTargets(targets);
      expect(errors).toEqual([]);

      nft('flush', 'ruleset');
      expect(await guardPresent(ns)).toBe(false);
      await p.setTargets(targets);
      expect(await guardPresent(ns)).toBe(true);
      expect(errors).toEqual([expect.stringMatching(/probe guard .* was gone or changed; put back/)]);

      nft('insert', 'rule', 'bridge', 'visp_health', 'prerouting', 'accept');
      expect(await guardPresent(ns)).toBe(false);
      await p.setTargets(targets);
      expect(await guardPresent(ns)).toBe(true);
      expect(errors).toHaveLength(2);
    } finally {
      p.close();
    }
  });
});
