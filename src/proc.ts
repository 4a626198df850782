// Processes as /proc shows them, from any network namespace: liveness (a
// zombie counts as dead: it is only waiting to be reaped), command lines, and
// finding a daemon by its arguments. Pids are reused, so whoever signals a
// recorded pid checks its command line first (isOurs).
import { readdirSync, readFileSync } from 'node:fs';

export function cmdline(pid: number): string[] | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv.at(-1) === '') argv.pop();
    return argv;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The process is alive and its command line contains every marker, in order. */
export function isOurs(pid: number, markers: readonly string[]): boolean {
  const argv = cmdline(pid);
  if (!argv || !isAlive(pid)) return false;
  let at = 0;
  for (const m of markers) {
    const i = argv.indexOf(m, at);
    if (i < 0) return false;
    at = i + 1;
  }
  return true;
}

/** Pids of live processes whose command line contains every marker, in order (e.g. a daemon by its socket argument). */
export function findProcesses(markers: readonly string[]): number[] {
  let pids: string[] = [];
  try { pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { return []; }
  return pids.map(Number).filter((pid) => pid !== process.pid && isOurs(pid, markers));
}
