// The README's lab-mode block, run line by line as a reader would paste it.
// The README is the first thing a user runs; its commands must not drift
// from the CLI (the demo did once, see demo.test.ts). The block uses the lab
// name "lan" (from examples/lan.yaml) and takes it down itself; a failed
// run's lab is taken down here. Lines run in a scratch directory that sees
// the repository's dist/ and examples/ (so `graph … --out lan.svg` writes
// there, not into the checkout).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelSkipReason } from '../helpers/netns.js';

const REPO = join(import.meta.dirname, '..', '..');
const ENTRY = join(REPO, 'dist/src/cli/main.js');

/** The shell lines of the first ```sh block under "## Lab mode", comments removed. */
function labBlock(): string[] {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Lab mode'));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md: no ```sh block under "## Lab mode"');
  return m[1]!.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter(Boolean);
}

const netnsOfLan = (): string[] => {
  let all: string[] = [];
  try { all = readdirSync('/run/netns'); } catch { /* none */ }
  return all.filter((n) => n === 'vl-lan' || n.startsWith('vl-lan-') || n.startsWith('visp-lan:'));
};

describe.skipIf(kernelSkipReason ?? (existsSync(ENTRY) ? undefined : 'build first (bash scripts/build.sh)'))('the README\'s lab-mode commands', () => {
  it('run as written: the lab comes up, every command answers, the picture is written, down leaves no namespace', () => {
    const lines = labBlock();
    // What the block must keep showing a reader: up, the tables, the picture, a plan, down.
    expect(lines[0]).toMatch(/ lab up examples\/lan\.yaml$/);
    expect(lines.at(-1)).toMatch(/ lab down lan$/);
    const dir = mkdtempSync(join(tmpdir(), 'visp-readme-'));
    symlinkSync(join(REPO, 'dist'), join(dir, 'dist'));
    symlinkSync(join(REPO, 'examples'), join(dir, 'examples'));
    const outputs = new Map<string, string>();
    try {
      for (const line of lines) {
        const r = spawnSync('bash', ['-c', line], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
        const out = `${r.stdout}${r.stderr}`;
        expect(r.status, `README line \`${line}\` failed:\n${out.slice(-3000)}`).toBe(0);
        outputs.set(line.split(/\s+/)[2]!, out);
      }
      expect(outputs.get('tunnels')).toMatch(/ready/);
      expect(outputs.get('describe')).toMatch(/lan/);
      expect(readFileSync(join(dir, 'lan.svg'), 'utf8')).toMatch(/^<svg[\s>]/m);
      expect(outputs.get('plan')?.length).toBeGreaterThan(0);
      expect(netnsOfLan()).toEqual([]);
    } finally {
      spawnSync(process.execPath, [ENTRY, 'lab', 'down', 'lan'], { cwd: REPO, stdio: 'ignore', timeout: 60_000 });
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
