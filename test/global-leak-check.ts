// Fails the suite if any test left a namespace or interface behind. Every
// namespace a test creates is named "vt-<run>-…" (see test/helpers/netns.ts),
// every experiment namespace an e2e lab's agents create "visp-<tag><run><hex>-…"
// (test/e2e/support.ts), and tests never create interfaces in the root namespace.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Workers inherit it: see test/helpers/netns.ts.
const RUN = (process.env.VISP_TEST_RUN ??= randomBytes(2).toString('hex'));

function snapshot(): { netns: string[]; links: string[] } {
  const run = (args: string[]): string => {
    try { return execFileSync('ip', args, { encoding: 'utf8' }); } catch { return ''; }
  };
  const ours = new RegExp(`^(vt-${RUN}-|visp-[a-z]+${RUN}[0-9a-f]{6}-)`);
  const netns = run(['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter((n) => ours.test(n));
  const links = run(['-o', 'link', 'show']).split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).filter((n): n is string => !!n);
  return { netns, links };
}

export default function setup(): () => void {
  const before = snapshot();
  return () => {
    const after = snapshot();
    const leakedNs = after.netns.filter((n) => !before.netns.includes(n));
    const leakedLinks = after.links.filter((n) => !before.links.includes(n));
    if (leakedNs.length || leakedLinks.length) {
      const what = `tests left state behind: namespaces [${leakedNs.join(', ')}], root links [${leakedLinks.join(', ')}]`;
      // vitest only prints an error thrown here ("error during close") and
      // still exits 0: make the run fail, and count it in the closing line.
      process.exitCode = 1;
      const dir = process.env.VISP_TEST_RESULTS;
      if (dir) writeFileSync(join(dir, 'leaks.json'), JSON.stringify({ numPassedTests: 0, numFailedTests: 1, numPendingTests: 0, leaks: what }));
      throw new Error(what);
    }
  };
}
