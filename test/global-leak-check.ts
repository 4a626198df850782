// Fails the suite if any test left a namespace or interface behind. Every
// namespace a test creates is named "vt-<run>-…" (see test/helpers/netns.ts), and
// tests never create interfaces in the root namespace.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

// Workers inherit it: see test/helpers/netns.ts.
const RUN = (process.env.VISP_TEST_RUN ??= randomBytes(2).toString('hex'));

function snapshot(): { netns: string[]; links: string[] } {
  const run = (args: string[]): string => {
    try { return execFileSync('ip', args, { encoding: 'utf8' }); } catch { return ''; }
  };
  const netns = run(['netns', 'list']).split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(`vt-${RUN}-`));
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
      throw new Error(`tests left state behind: namespaces [${leakedNs.join(', ')}], root links [${leakedLinks.join(', ')}]`);
    }
  };
}
