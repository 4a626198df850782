// The README's demo, run as a user runs it: `bash scripts/demo.sh`. It ran
// nowhere in the tests, and drifted: after experiment namespaces became
// visp-<slice>:<router> its egress part pinged from a namespace that no
// longer existed, and failed. It uses the lab names triangle and egress and
// takes both labs down itself; a failed run's labs are taken down here.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelSkipReason } from '../helpers/netns.js';

const REPO = join(import.meta.dirname, '..', '..');
const visp = (...args: string[]): void => { spawnSync(process.execPath, [join(REPO, 'dist/src/cli/main.js'), ...args], { cwd: REPO, stdio: 'ignore', timeout: 60_000 }); };

describe.skipIf(kernelSkipReason)('the README\'s demo', () => {
  it('bash scripts/demo.sh runs to the end: the triangle pings both ways, every link pair answers its health probes, it is drawn, the egress slice reaches both providers\' hosts, both labs come down', () => {
    try {
      const r = spawnSync('bash', ['scripts/demo.sh'], { cwd: REPO, encoding: 'utf8', timeout: 300_000 });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.status, out.slice(-4000)).toBe(0);
      expect(out).toMatch(/slice triangle \(ready\), 3 routers, 3 links, svg/);
      expect(out).toMatch(/health: 6 of 6 member pairs answering on 3 links; RTT p50 [\d.]+–[\d.]+ ms, p99 up to [\d.]+ ms; loss [\d.]+%/);
      expect(out).toMatch(/lab triangle is down/);
      expect(out).not.toMatch(/demo: ping .* failed/);
      expect(out).toMatch(/lab egress is down/);
    } finally {
      visp('lab', 'down', 'triangle');
      visp('lab', 'down', 'egress');
    }
  }, 320_000);
});
