// Shared fixtures for the BGP tests: whether gobgpd/BIRD 2/GoBGP's protos
// are here, polling, veth links between namespaces, and a BIRD 2 provider
// run in a namespace and read with birdc (an independent implementation).
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ipIn, kernelSkipReason, sh } from '../helpers/netns.js';

const haveDaemons = (() => {
  try { sh('sh', ['-c', 'command -v gobgpd && command -v bird && command -v birdc && test -f /usr/share/gocode/src/github.com/osrg/gobgp/api/gobgp.proto']); return true; } catch { return false; }
})();
/** Why BGP tests skip (undefined: they run). */
export const bgpSkipReason = kernelSkipReason ?? (haveDaemons ? undefined : 'gobgpd, bird2 or GoBGP\'s protos not installed (scripts/setup.sh installs them)');
if (!kernelSkipReason && bgpSkipReason) console.warn(`SKIP: ${bgpSkipReason}`);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `f` until it returns something truthy; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, f: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A veth pair from `a` (device `devA`) to `b` (device `devB`), addressed (IPv6 without DAD) and up. */
export function vethBetween(a: string, devA: string, addrsA: string[], b: string, devB: string, addrsB: string[]): void {
  ipIn(a, 'link', 'add', devA, 'type', 'veth', 'peer', 'name', devB, 'netns', b);
  for (const [ns, dev, addrs] of [[a, devA, addrsA], [b, devB, addrsB]] as const) {
    for (const x of addrs) ipIn(ns, ...(x.includes(':') ? ['-6', 'addr', 'add', x, 'dev', dev, 'nodad'] : ['addr', 'add', x, 'dev', dev]));
    ipIn(ns, 'link', 'set', dev, 'up');
  }
}

/** BIRD 2 in a namespace, config written to `dir`, control socket there. */
export class Bird {
  readonly proc: ChildProcess;
  readonly log: string[] = [];
  readonly ctl: string;

  constructor(readonly ns: string, dir: string, readonly name: string, config: string) {
    const conf = join(dir, `bird-${name}.conf`);
    this.ctl = join(dir, `bird-${name}.ctl`);
    writeFileSync(conf, config);
    this.proc = spawn('ip', ['netns', 'exec', ns, 'bird', '-f', '-c', conf, '-s', this.ctl], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => this.log.push(`[${name}] ${d.toString().trimEnd()}`));
    const p = this.proc;
    process.once('exit', () => { if (p.exitCode === null) p.kill('SIGKILL'); });
  }

  /** birdc output (also on failure: its stdout, or the error). */
  birdc(...args: string[]): string {
    try { return sh('birdc', ['-s', this.ctl, ...args]); } catch (e) { return String((e as { stdout?: string }).stdout ?? e); }
  }

  /** The route for exactly `prefix` in BIRD's table with its AS path, or undefined. */
  route(prefix: string): { asPath: string } | undefined {
    const out = this.birdc('show', 'route', prefix, 'all');
    if (!out.includes(`${prefix} `) && !out.includes(`${prefix}\t`)) return undefined;
    const m = /BGP\.as_path:\s*([\d ]*)/.exec(out);
    return { asPath: (m?.[1] ?? '').trim() };
  }

  /** Every BGP protocol named in `protos` is up and Established. */
  established(...protos: string[]): boolean {
    const out = this.birdc('show', 'protocols');
    return protos.every((p) => new RegExp(`${p}\\s+BGP\\s+\\S+\\s+up\\s+\\S+\\s+Established`).test(out));
  }

  async stop(): Promise<void> {
    const b = this.proc;
    if (b.exitCode !== null || b.signalCode !== null) return;
    const gone = new Promise((r) => b.once('exit', r));
    b.kill('SIGTERM');
    await Promise.race([gone, sleep(3000).then(() => b.kill('SIGKILL'))]);
  }
}

/** The BGP session template the providers use: quick reconnects after a reset. */
export const BIRD_TEMPLATE = (asn: number): string => `template bgp visp {
  local as ${asn};
  connect retry time 1;
  error wait time 1, 2;
  hold time 9;
}`;
