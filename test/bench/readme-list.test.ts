// The README names every benchmark `npm run bench -- NAME` runs, and no other:
// the list is prose, so this holds it to bench/*.ts.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url);

describe("the README's list of benchmarks", () => {
  it('is exactly the benchmarks in bench/', () => {
    const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
    const m = /`npm run bench -- NAME`\s*\(([^)]*)/.exec(readme);
    expect(m, 'README: the sentence naming `npm run bench -- NAME` and its list').not.toBeNull();
    const listed = [...m![1]!.matchAll(/`([a-z-]+)`/g)].map((x) => x[1]!).sort();
    const present = readdirSync(new URL('bench/', ROOT)).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
    expect(listed).toEqual(present);
  });
});
