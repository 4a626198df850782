// docs/egress.md's provider configuration is real BIRD 2: every block marked
// "<!-- bird: … -->" is parsed by `bird -p`, so the example cannot rot into
// something a provider's BIRD refuses.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const doc = readFileSync(new URL('../../docs/egress.md', import.meta.url), 'utf8');
const blocks = [...doc.matchAll(/<!-- bird: ([\w-]+) -->\s*```\n([\s\S]*?)```/g)].map((m) => ({ name: m[1]!, text: m[2]!.replace(/^ {3}/gm, '') }));
const haveBird = spawnSync('sh', ['-c', 'command -v bird']).status === 0;
if (!haveBird) console.warn('SKIP: bird (Debian bird2) is not installed; scripts/setup.sh installs it');

describe.skipIf(!haveBird)('docs/egress.md BIRD examples', () => {
  it('has the provider example', () => {
    expect(blocks.map((b) => b.name)).toContain('provider');
  });

  it.each(blocks)('$name parses with bird -p', ({ text }) => {
    const dir = mkdtempSync(join(tmpdir(), 'visp-birddoc-'));
    try {
      writeFileSync(join(dir, 'bird.conf'), text);
      const r = spawnSync('bird', ['-p', '-c', join(dir, 'bird.conf')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the provider example accepts slice blocks down to /28 and has an IPv6 session', () => {
    const provider = blocks.find((b) => b.name === 'provider')!.text;
    expect(provider).toMatch(/203\.0\.113\.0\/24\{24,28\}/);
    expect(provider).toMatch(/protocol bgp \w+ \{[^}]*neighbor 2001:db8/);
    expect(provider).toMatch(/protocol kernel/);
  });
});
