// A controller killed with SIGKILL leaves its unix socket file behind. Started
// again with its own command line it must come up (a systemd Restart= would
// loop on EADDRINUSE otherwise), but it must never take the socket of a
// controller that still answers, nor remove a file that is not a socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/api/client.js';
import { waitFor } from '../helpers/wait.js';

const VISP = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'visp-restart-'));
const sock = join(dir, 'c.sock');
const argv = ['--import', 'tsx', VISP, 'controller', '--listen', `unix:${sock}`, '--store', join(dir, 'store.sqlite'), '--lab',
  '--plaintext-identity', 'spiffe://visp.test/operator-readonly/probe'];
const procs: ChildProcess[] = [];

function start(): { proc: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } {
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return { proc, exited: new Promise((r) => proc.once('exit', (code) => r({ code, stderr }))) };
}

async function answers(): Promise<boolean> {
  const c = connect(`unix:${sock}`);
  try { await c.operator.listNodes({}); return true; } catch { return false; } finally { c.close(); }
}

afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('controller restart after SIGKILL (its unix socket left behind)', () => {
  it('comes up again with the same command line, every time', async () => {
    for (let round = 0; round < 3; round++) {
      const c = start();
      await waitFor(`controller answering (round ${round})`, answers, 30_000, 100);
      c.proc.kill('SIGKILL');
      await c.exited;
      expect(existsSync(sock), 'the socket file stays behind after SIGKILL').toBe(true);
    }
    const last = start();
    await waitFor('controller answering after the last SIGKILL', answers, 30_000, 100);
    last.proc.kill('SIGTERM');
    await last.exited;
  }, 180_000);

  it('refuses to take the socket of a controller that still answers; the running one keeps answering', async () => {
    const first = start();
    await waitFor('first controller answering', answers, 30_000, 100);
    const second = start();
    const r = await second.exited;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/listen: another process is serving on .*c\.sock/);
    expect(await answers()).toBe(true);
    first.proc.kill('SIGTERM');
    await first.exited;
  }, 120_000);

  it('refuses a path that is a regular file, and leaves the file alone', async () => {
    rmSync(sock, { force: true });
    writeFileSync(sock, 'not a socket');
    const c = start();
    const r = await c.exited;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/listen: .*c\.sock exists and is not a socket/);
    expect(existsSync(sock)).toBe(true);
  }, 60_000);
});
