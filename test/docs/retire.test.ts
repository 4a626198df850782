// `visp retire` on a node: it stops the gobgpd and visp-engine whose sockets
// are in the run directory, in this network namespace only (a gobgpd of
// another namespace with its socket in the same directory lives on), gobgpd first;
// it refuses while a visp agent runs there; --dry-run only says; a second
// run finds nothing.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineBinary } from '../../src/dataplane/engine-process.js';
import { isAlive } from '../../src/proc.js';
import { kernelSkipReason, makeNetns } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const ENTRY = fileURLToPath(new URL('./visp-entry.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const haveGobgpd = existsSync('/usr/bin/gobgpd');
let haveEngine = true;
try { engineBinary(); } catch { haveEngine = false; }
const skip = kernelSkipReason ?? (!haveGobgpd ? 'gobgpd is not installed (Debian package gobgpd)' : !haveEngine ? 'visp-engine is not built (scripts/build-engine.sh)' : undefined);
if (skip && !kernelSkipReason) console.warn(`SKIP: ${skip}`);

describe.skipIf(skip)('visp retire', () => {
  let dir = '';
  const procs: ChildProcess[] = [];
  let a = '', b = '';
  let gobgpd: ChildProcess, engine: ChildProcess, other: ChildProcess, agent: ChildProcess;

  const inNs = (ns: string, argv: string[]): ChildProcess => {
    const p = spawn('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], { stdio: 'ignore', detached: true });
    procs.push(p);
    return p;
  };
  const retire = async (ns: string, ...args: string[]): Promise<{ code: number; out: string }> => {
    try {
      const { stdout, stderr } = await run('nsenter', [`--net=/run/netns/${ns}`, '--', process.execPath, '--import', 'tsx', ENTRY, 'retire', '--run-dir', dir, ...args], { cwd: REPO });
      return { code: 0, out: stdout + stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, out: x.stdout + x.stderr };
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-retire-'));
    a = makeNetns('reta');
    b = makeNetns('retb');
    const sock = `unix://${join(dir, 'bgp-x.sock')}`;
    gobgpd = inNs(a, ['gobgpd', '--api-hosts', sock, '--pprof-disable', '-l', 'warn']);
    other = inNs(b, ['gobgpd', '--api-hosts', `unix://${join(dir, 'bgp-y.sock')}`, '--pprof-disable', '-l', 'warn']);
    engine = inNs(a, [engineBinary(), '--control', join(dir, 'engine-x.sock'), '--xdp', 'off']);
    // Stands in for `visp agent` (what retire looks for: "…/visp agent" in the command line).
    agent = inNs(a, ['sh', '-c', 'sleep 600; :', '/usr/local/bin/visp', 'agent']);
    await waitFor('the engine\'s socket', () => existsSync(join(dir, 'engine-x.sock')));
    await waitFor('both gobgpd up', () => [gobgpd, other].every((p) => p.pid !== undefined && isAlive(p.pid)));
    await new Promise((r) => setTimeout(r, 500));
  });

  afterAll(() => {
    for (const p of procs) if (p.pid) try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses while an agent runs in the namespace, and --dry-run only says', async () => {
    const r = await retire(a);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/a visp agent is running here \(pid \d+\): stop it first/);
    const d = await retire(a, '--dry-run');
    expect(d.code).toBe(0);
    expect(d.out).toMatch(new RegExp(`would stop gobgpd \\(pid ${gobgpd.pid}, .*bgp-x\\.sock\\)\\nwould stop visp-engine \\(pid ${engine.pid}, `));
    for (const p of [gobgpd, engine, other]) expect(isAlive(p.pid!)).toBe(true);
  });

  it('stops this namespace\'s gobgpd and engine, gobgpd first, and nothing else', async () => {
    process.kill(agent.pid!, 'SIGKILL');
    await waitFor('the stand-in agent gone', () => !isAlive(agent.pid!));
    const r = await retire(a);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`^stopped gobgpd \\(pid ${gobgpd.pid}, .*\\n(stopped|killed) visp-engine \\(pid ${engine.pid}, `, 'm'));
    expect(isAlive(gobgpd.pid!)).toBe(false);
    expect(isAlive(engine.pid!)).toBe(false);
    expect(existsSync(join(dir, 'engine-x.sock'))).toBe(false);
    expect(isAlive(other.pid!)).toBe(true);        // another namespace's, socket in the same directory
    expect((await retire(a)).out).toMatch(/^nothing to stop/);
  });
});
