// Scratch network namespaces for benchmarks: named "vb-…" (tests use "vt-…"),
// remembered, and always removed — on return, on error and on SIGINT/SIGTERM.
// Never touches the root namespace: every command runs with `ip -n NS`.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';

const created = new Set<string>();

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], ...(input === undefined ? {} : { input }), maxBuffer: 256 << 20 });
}

export const ipIn = (ns: string, ...args: string[]): string => sh('ip', ['-n', ns, ...args]);

/** A fresh namespace "vb-<tag>-<random>" with lo up. */
export function scratchNetns(tag: string): string {
  const name = `vb-${tag}-${randomBytes(3).toString('hex')}`;
  sh('ip', ['netns', 'add', name]);
  created.add(name);
  ipIn(name, 'link', 'set', 'lo', 'up');
  return name;
}

/** Remove a namespace we created; already gone is fine. */
export function removeNetns(name: string): void {
  if (!created.has(name)) throw new Error(`refusing to remove ${name}: not created by this run`);
  try { sh('ip', ['netns', 'del', name]); } catch { /* already gone */ }
  created.delete(name);
}

export function removeAllScratch(): void {
  for (const n of [...created]) removeNetns(n);
  removeProbes(process.pid);
}

/** visp's capability-probe namespace, left if process `pid` was stopped while it ran (its name carries the pid). */
export function removeProbes(pid: number): void {
  let names: string[] = [];
  try { names = readdirSync('/run/netns').filter((n) => n.startsWith(`visp-probe-${pid}-`)); } catch { /* none */ }
  for (const n of names) { try { sh('ip', ['netns', 'del', n]); } catch { /* gone */ } }
}

let hooked = false;
/** On SIGINT/SIGTERM: remove every namespace this run created, then exit. */
export function cleanupOnSignal(): void {
  if (hooked) return;
  hooked = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: removing ${created.size} scratch namespace(s)\n`);
      removeAllScratch();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
  process.once('exit', () => removeAllScratch());
}
