// docs/lab-scale.md's commands run as written (the block marked for this
// test), on a lab of its own name: up, the agent host killed, the links
// still carrying traffic, the host started again and every agent adopting,
// down. The guide's own commands fail the test when they fail.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labDir, labDown } from '../../src/lab/index.js';
import { kernelSkipReason } from '../helpers/netns.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const ENTRY = join(ROOT, 'dist/src/cli/main.js');
const skip = kernelSkipReason ?? (existsSync(ENTRY) ? undefined : 'lab tests run the built CLI: build first (bash scripts/build.sh)');
const name = `td${randomBytes(2).toString('hex')}`;
afterAll(async () => { await labDown(name).catch(() => undefined); });

/** The shell block after the marker naming this test. */
function block(): string {
  const text = readFileSync(join(ROOT, 'docs/lab-scale.md'), 'utf8');
  const m = /<!-- run by test\/lab\/scale-doc\.test\.ts -->\s*```sh\n([\s\S]*?)```/.exec(text);
  if (!m) throw new Error('docs/lab-scale.md: no block marked "run by test/lab/scale-doc.test.ts"');
  return m[1]!;
}

describe.skipIf(skip)('docs/lab-scale.md', () => {
  it('its commands run as written: the agent host killed, the links carry traffic, a new host adopts them', () => {
    const script = block();
    expect(script).toMatch(/^LAB=scale-doc$/m);
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', `visp() { "${process.execPath}" "${ENTRY}" "$@"; }\n${script.replace(/^LAB=scale-doc$/m, `LAB=${name}`)}`],
      { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`lab ${name}: agent host restarted \\(pid \\d+\\), 3/3 agents connected`));
    expect(r.stdout).toMatch(new RegExp(`lab ${name} is down`));
    expect(existsSync(labDir(name))).toBe(false);
  }, 180_000);
});
