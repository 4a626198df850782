// BGP benchmark environment: BIRD 2 providers in scratch namespaces ("vb-…"),
// veth links between namespaces, and polling BIRD's table with birdc run
// asynchronously (the controller and agents may share this process's event
// loop: a synchronous birdc would stall them and bias what we measure).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ipIn, sh } from './scratch.js';

const run = promisify(execFile);

/** Whether gobgpd, BIRD 2 and GoBGP's protos are installed (scripts/setup.sh installs them). */
export function bgpMissing(): string | undefined {
  try { sh('sh', ['-c', 'command -v gobgpd && command -v bird && command -v birdc && test -f /usr/share/gocode/src/github.com/osrg/gobgp/api/gobgp.proto']); return undefined; } catch {
    return 'gobgpd, bird2 or GoBGP\'s protos are not installed (scripts/setup.sh installs them)';
  }
}

/** A veth pair from `a` (`devA`) to `b` (`devB`), addressed (IPv6 without DAD) and up. */
export function vethBetween(a: string, devA: string, addrsA: string[], b: string, devB: string, addrsB: string[]): void {
  ipIn(a, 'link', 'add', devA, 'type', 'veth', 'peer', 'name', devB, 'netns', b);
  for (const [ns, dev, addrs] of [[a, devA, addrsA], [b, devB, addrsB]] as const) {
    for (const x of addrs) ipIn(ns, ...(x.includes(':') ? ['-6', 'addr', 'add', x, 'dev', dev, 'nodad'] : ['addr', 'add', x, 'dev', dev]));
    ipIn(ns, 'link', 'set', dev, 'up');
  }
}

const live = new Set<ChildProcess>();
process.once('exit', () => { for (const p of live) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });

/** BIRD 2 in a namespace; config and control socket in `dir`. */
export class BirdProvider {
  readonly ctl: string;
  readonly proc: ChildProcess;
  readonly log: string[] = [];

  constructor(readonly ns: string, dir: string, readonly name: string, config: string) {
    const conf = join(dir, `bird-${name}.conf`);
    this.ctl = join(dir, `bird-${name}.ctl`);
    writeFileSync(conf, config);
    this.proc = spawn('ip', ['netns', 'exec', ns, 'bird', '-f', '-c', conf, '-s', this.ctl], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => { this.log.push(d.toString().trimEnd()); if (this.log.length > 200) this.log.shift(); });
    live.add(this.proc);
    this.proc.once('exit', () => live.delete(this.proc));
  }

  async birdc(...args: string[]): Promise<string> {
    try { return (await run('birdc', ['-s', this.ctl, ...args], { maxBuffer: 64 << 20 })).stdout; } catch (e) { return String((e as { stdout?: string }).stdout ?? e); }
  }

  /** Whether BIRD's table has exactly `prefix`. */
  async has(prefix: string): Promise<boolean> {
    const out = await this.birdc('show', 'route', prefix);
    return out.includes(`${prefix} `) || out.includes(`${prefix}\t`);
  }

  /** Routes BIRD imported from one protocol ("N of M routes for K networks …"). */
  async count(protocol: string): Promise<number> {
    const out = await this.birdc('show', 'route', 'protocol', protocol, 'count');
    const m = /(\d+) of (\d+) routes/.exec(out);
    return m ? Number(m[1]) : 0;
  }

  async established(...protos: string[]): Promise<boolean> {
    const out = await this.birdc('show', 'protocols');
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

/**
 * A provider that takes what we announce (IPv4 and IPv6 sessions to `ours`)
 * and sends nothing, or, with `send6`, the routes of a static protocol
 * "bulk6" (disabled at start: `birdc enable bulk6` announces them all).
 */
export function providerConfig(p: { asn: number; theirs: [string, string]; ours: [string, string]; ourAsn: number; send6?: string[] }): string {
  const bulk = p.send6?.length ? `protocol static bulk6 {\n  disabled;\n  ipv6;\n${p.send6.map((x) => `  route ${x} blackhole;`).join('\n')}\n}\n` : '';
  return `router id ${p.theirs[0]};
log stderr { warning, error, fatal };
protocol device {}
${bulk}template bgp visp {
  local as ${p.asn};
  connect retry time 1;
  error wait time 1, 2;
  hold time 9;
}
protocol bgp egress4 from visp {
  local ${p.theirs[0]} as ${p.asn};
  neighbor ${p.ours[0]} as ${p.ourAsn};
  ipv4 { import all; export none; };
}
protocol bgp egress6 from visp {
  local ${p.theirs[1]} as ${p.asn};
  neighbor ${p.ours[1]} as ${p.ourAsn};
  ipv6 { import all; export ${p.send6?.length ? 'where proto = "bulk6"' : 'none'}; };
}
`;
}

/** Poll `f` every `everyMs` until truthy; throws naming `what` after `timeoutMs`. */
export async function poll<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, everyMs = 10): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
