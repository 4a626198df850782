// The engine's TCP segmentation and merging (native/engine/offload.c),
// checked case by case in C (test/dataplane/offload-check.c): checksums
// against RFC 1071 done the slow way, TSO frames cut into segments (headers,
// flags, checksums, payload) and merged back into the very same frame, and
// what must not be merged or cut. Needs a C compiler, not root.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const cc = process.env.CC ?? 'cc';
const ccSkip = spawnSync(cc, ['--version']).status === 0 ? undefined : `no C compiler (${cc})`;
if (ccSkip) console.warn(`SKIP: ${ccSkip}`);

describe.skipIf(ccSkip)('visp-engine offload (segmentation, merging, checksums)', () => {
  it('passes every case of offload-check.c', () => {
    const dir = mkdtempSync(join(tmpdir(), 'visp-offload-'));
    try {
      const bin = join(dir, 'offload-check');
      const build = spawnSync(cc, ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', '-I', join(repo, 'native/engine'), '-o', bin,
        join(repo, 'test/dataplane/offload-check.c'), join(repo, 'native/engine/offload.c')], { encoding: 'utf8' });
      expect(build.status, build.stderr).toBe(0);
      const run = spawnSync(bin, [], { encoding: 'utf8' });
      const lines = run.stdout.trim().split('\n');
      expect(lines.filter((l) => !l.startsWith('ok ')), run.stdout).toEqual([]);
      expect(lines.length).toBeGreaterThanOrEqual(18);
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
