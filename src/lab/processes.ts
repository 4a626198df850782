// The lab's daemons (controller, agents) run detached from the command that
// started them, each logging to a file. A recorded pid is only signalled
// after /proc/PID/cmdline shows it is still the process we started (pids
// are reused).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { isAlive, isOurs } from '../proc.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError } from '../errors.js';

// Where the lab's callers always looked for these.
export { cmdline, findProcesses, isAlive, isOurs } from '../proc.js';

/** Start `argv` detached, stdout and stderr appended to `logFile`; returns its pid. */
export function spawnDetached(argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env): number {
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env });
    if (child.pid === undefined) throw new UnavailableError(`cannot start ${argv[0]}`);
    child.on('error', () => { /* seen as a dead pid by the caller's readiness check */ });
    child.unref();
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone.
 * Returns false when there was nothing of ours to stop.
 */
export async function stopProcess(pid: number, markers: readonly string[], graceMs = 5000): Promise<boolean> {
  if (!isOurs(pid, markers)) return false;
  try { process.kill(pid, 'SIGTERM'); } catch { return false; }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
    // A process in uninterruptible sleep (e.g. a slow link deletion) dies when the call returns.
    const hard = Date.now() + 30_000;
    while (isAlive(pid) && Date.now() < hard) await sleep(50);
  }
  return true;
}

/** The last lines of a log, for error messages. */
export function logTail(file: string, lines = 5): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
