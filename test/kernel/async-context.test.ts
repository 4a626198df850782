// The netlink socket under an AsyncLocalStorage: Node keeps a context on
// every async resource, and the native socket's resource once was its
// external handle, which cannot take a property, so the first socket opened
// inside a context aborted the process. Requests work and the context
// follows them.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('netlink inside an AsyncLocalStorage context', () => {
  it('a socket opens, answers, and the caller\'s context is still there after the reply', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/kernel/fixtures/als-child.ts'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim()) as { links: number; store: unknown };
    expect(out.links).toBeGreaterThan(0);
    expect(out.store).toEqual({ request: 'r-1' });
  });
});
