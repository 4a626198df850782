// The threaded SQLite store starts its thread whatever the process's working
// directory (a daemon under systemd runs from /, a docs test from a sandbox):
// its worker once resolved tsx from the working directory and died there.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('opens, reads and closes from a process whose working directory is elsewhere', () => {
  const dir = mkdtempSync(join(tmpdir(), 'visp-thread-'));
  try {
    const mod = fileURLToPath(new URL('./sqlite-thread.ts', import.meta.url));
    const script = `const { openSqliteStoreThreaded } = await import(${JSON.stringify(mod)});
      const s = await openSqliteStoreThreaded(${JSON.stringify(join(dir, 's.db'))});
      await s.commit({ compares: [], ops: [{ type: 'put', key: 'k', value: 'v', expect: 0 }] });
      console.log(JSON.stringify((await s.read([{ key: 'k' }])).results[0][0].value));
      await s.close();`;
    const r = spawnSync(process.execPath, ['--import', fileURLToPath(import.meta.resolve('tsx/esm')), '--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('"v"');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
