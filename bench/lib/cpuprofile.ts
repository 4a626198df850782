// Reading a V8 CPU profile (node --cpu-prof) over a time window: where the
// process spent it, by function, self and inclusive, each function named by
// its TypeScript source line (through dist's source maps) when it is ours.
// The window is in CLOCK_MONOTONIC microseconds, the clock the profile's
// timestamps use (process.hrtime in any process on the machine), so another
// process can say when something happened.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Frame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: Frame; children?: number[] }
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface FrameTime { frame: string; ms: number; share: number }
export interface ProfileSummary { busyMs: number; self: FrameTime[]; inclusive: FrameTime[] }

/** Now on CLOCK_MONOTONIC, in microseconds (the profile's clock). */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'); // the repository (dist/bench/lib → ../../..)
const maps = new Map<string, SourceMap | undefined>();

/** "name src/x.ts:LINE" for our compiled code (dist/…js mapped back), "name path:LINE" for the rest. */
function frameName(f: Frame): string {
  const name = f.functionName || '(anonymous)';
  if (!f.url) return name;
  const path = f.url.startsWith('file://') ? fileURLToPath(f.url) : f.url;
  if (path.startsWith(join(root, 'dist')) && path.endsWith('.js')) {
    if (!maps.has(path)) {
      try { maps.set(path, new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')) as never)); } catch { maps.set(path, undefined); }
    }
    const e = maps.get(path)?.findEntry(f.lineNumber, f.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
    if (e?.originalSource !== undefined && e.originalLine !== undefined) {
      return `${name} ${relative(root, resolve(dirname(path), e.originalSource))}:${e.originalLine + 1}`;
    }
  }
  return `${name} ${path.startsWith(root) ? relative(root, path) : path}:${f.lineNumber + 1}`;
}

/**
 * Busy time (every sample but the idle ones) in [fromUs, toUs], by function:
 * self (where the sample was taken) and inclusive (anywhere on the stack,
 * counted once per sample), the top `k` of each.
 */
export function summarizeProfile(file: string, fromUs: number, toUs: number, k = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const names = new Map<number, string>();
  const nameOf = (id: number): string => {
    let s = names.get(id);
    if (s === undefined) { s = frameName(byId.get(id)!.callFrame); names.set(id, s); }
    return s;
  };
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  let busy = 0;
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (t < fromUs || t > toUs) continue;
    const id = p.samples[i]!;
    const fn = byId.get(id)!.callFrame.functionName;
    if (fn === '(idle)') continue;
    const dt = p.timeDeltas[i + 1] ?? 0;
    busy += dt;
    self.set(nameOf(id), (self.get(nameOf(id)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const n = nameOf(x);
      if (seen.has(n)) continue;
      seen.add(n);
      incl.set(n, (incl.get(n) ?? 0) + dt);
    }
  }
  const top = (m: Map<string, number>): FrameTime[] => [...m].sort((a, b) => b[1] - a[1]).slice(0, k)
    .map(([frame, us]) => ({ frame, ms: Math.round(us / 1000), share: Math.round((1000 * us) / Math.max(1, busy)) / 1000 }));
  return { busyMs: Math.round(busy / 1000), self: top(self), inclusive: top(incl) };
}
