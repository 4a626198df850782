// npm run bench -- bgp-restart [--runs 8] [--bird defaults|fixtures|doc] [--hang] [--hogs 0] [--full 0]
//
// How long after gobgpd dies the providers have our prefixes again, and
// what that time is made of. An egress node run by AgentEgress (what the
// agent runs: gobgpd under Speaker, the slice tables, a pass every 2 s as
// the agent's reconcile timer does), two BIRD 2 providers with an IPv4 and
// an IPv6 session each (four sessions, as in test/e2e/egress.test.ts), one
// slice with an IPv4 and an IPv6 block. Per run: SIGKILL gobgpd, then
// (polled every 20 ms, asynchronously):
//
// - new_pid_ms: the speaker started a new gobgpd
// - peers_ms: the new gobgpd has every provider configured (ListPeer)
// - connect_ms: the first TCP connection of each session arrived at BIRD
//   (BIRD's own log, `debug { events }`, millisecond timestamps); the median
//   and max are over sessions and runs
// - session_ms: each session Established at BIRD (birdc); all_sessions_ms:
//   the last of the four
// - prefixes_ms: both blocks back at both providers
//
// --bird chooses the providers' BGP timers: `defaults` = none set, as in a
// provider configuration that only says what docs/egress.md's example says
// about sessions; `fixtures` = the tests' (connect retry time 1, error wait
// time 1, 2); `doc` = what docs/egress.md's example sets now.
// --hang: gobgpd first hangs (SIGSTOP) until every provider's hold timer
// expired (BIRD counts that as an error, unlike a closed connection), and
// only then dies; the times are still from the SIGKILL. BIRD's hold time is
// 9 s here in every profile (its default, 240 s, would only make the wait
// longer).
// Load: --hogs K busy-loop processes beside it; --full N: each provider
// sends N IPv6 routes and the slice takes the full table, so every restart
// also re-learns and re-installs N routes (a big slice reconciling in the
// agent's own process).
//
// Namespaces are "vb-…", always removed; gobgpd is stopped through
// AgentEgress, BIRD by pid. Progress on stderr; the last stdout line is JSON.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentEgress } from '../src/agent/egress.js';
import type { EgressDesired } from '../src/bgp/desired.js';
import { collect, gobgpClient } from '../src/bgp/gobgp-client.js';
import { findGobgpd } from '../src/bgp/speaker.js';
import { BirdProvider, bgpMissing, poll, vethBetween } from './lib/bgp-env.js';
import { log, median, round } from './lib/measure.js';
import { parseOptions } from './lib/options.js';
import { cleanupOnSignal, ipIn, removeNetns, scratchNetns } from './lib/scratch.js';

type Profile = 'defaults' | 'fixtures' | 'doc';
interface Options { runs: number; bird: Profile; hang: boolean; hogs: number; full: number }

function parseArgs(argv: string[]): Options {
  const o: Options = { runs: 8, bird: 'doc', hang: false, hogs: 0, full: 0 };
  parseOptions(argv, {
    '--runs': (v) => { o.runs = v.int(); },
    '--bird': (v) => {
      const t = v.text();
      if (t !== 'defaults' && t !== 'fixtures' && t !== 'doc') throw new Error(`--bird: defaults, fixtures or doc, got ${t}`);
      o.bird = t;
    },
    '--hang': () => { o.hang = true; },
    '--hogs': (v) => { o.hogs = v.int(0); },
    '--full': (v) => { o.full = v.int(0); },
  });
  if (o.full > 0x7000) throw new Error('--full: at most 28672');
  return o;
}

const ASN = 64500;
const B4 = '203.0.113.0/28', B6 = '2001:db8:1000::/48';
const PROV = [
  { name: 'A', asn: 64501, ours: ['198.18.1.1', '2001:db8:ff01::1'], theirs: ['198.18.1.2', '2001:db8:ff01::2'] },
  { name: 'B', asn: 64502, ours: ['198.18.2.1', '2001:db8:ff02::1'], theirs: ['198.18.2.2', '2001:db8:ff02::2'] },
] as const;
const SESSIONS = PROV.flatMap((p) => ['egress4', 'egress6'].map((proto) => ({ p, proto })));

/** The BGP timers each profile sets on the provider's side (none: BIRD's defaults). */
const TIMERS: Record<Profile, string> = {
  defaults: '',
  fixtures: '  connect retry time 1;\n  error wait time 1, 2;\n',
  doc: '  error wait time 1, 5;\n',
};

function birdConfig(p: (typeof PROV)[number], o: Options, i: number): string {
  const theirs = (k: number): string => `2001:db8:${(0x8000 + i * 0x1000 + k).toString(16)}::/48`;
  const bulk = o.full ? `protocol static bulk6 { ipv6;\n${Array.from({ length: o.full }, (_, k) => `  route ${theirs(k)} blackhole;`).join('\n')}\n}\n` : '';
  return `router id ${p.theirs[0]};
log stderr all;
timeformat log "%F %T.%3f";
protocol device {}
protocol static default4 { ipv4; route 0.0.0.0/0 blackhole; }
protocol static default6 { ipv6; route ::/0 blackhole; }
${bulk}template bgp visp {
  local as ${p.asn};
${TIMERS[o.bird]}${o.hang ? '  hold time 9;\n' : ''}  debug { states, events };
}
protocol bgp egress4 from visp {
  local ${p.theirs[0]} as ${p.asn};
  neighbor ${p.ours[0]} as ${ASN};
  ipv4 { import all; export where proto = "default4"; };
}
protocol bgp egress6 from visp {
  local ${p.theirs[1]} as ${p.asn};
  neighbor ${p.ours[1]} as ${ASN};
  ipv6 { import all; export where proto = "default6"${o.full ? ' || proto = "bulk6"' : ''}; };
}
`;
}

/** BIRD's log timestamp ("2024-05-01 06:30:01.123", local time) → ms since the epoch. */
const birdTime = (line: string): number | undefined => {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})/.exec(line);
  return m ? new Date(`${m[1]}T${m[2]}`).getTime() : undefined;
};

interface Run { newPid: number; peers: number; connect: number[]; session: number[]; allSessions: number; prefixes: number }

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  cleanupOnSignal();
  if (process.getuid?.() !== 0) throw new Error('the bgp-restart benchmark needs root (CAP_NET_ADMIN) to create network namespaces');
  const missing = bgpMissing();
  if (missing) throw new Error(`the bgp-restart benchmark needs ${missing}`);
  log(`bgp-restart: ${o.runs} runs, providers' timers: ${o.bird}, ${o.hogs} busy processes, ${o.full} provider routes per provider`);

  const dir = mkdtempSync(join(tmpdir(), 'vb-bgpr-'));
  const made: string[] = [];
  const birds: BirdProvider[] = [];
  const hogs: ChildProcess[] = [];
  let eg: AgentEgress | undefined;
  let timer: NodeJS.Timeout | undefined;
  const runs: Run[] = [];
  try {
    const egress = scratchNetns('bgpre');
    made.push(egress);
    for (const [i, p] of PROV.entries()) {
      const ns = scratchNetns(`bgpr${p.name.toLowerCase()}`);
      made.push(ns);
      vethBetween(egress, `up${i}`, [`${p.ours[0]}/30`, `${p.ours[1]}/64`], ns, 'eg0', [`${p.theirs[0]}/30`, `${p.theirs[1]}/64`]);
      birds.push(new BirdProvider(ns, dir, p.name, birdConfig(p, o, i)));
    }
    // The slice's egress device, as its link's endpoint builds it.
    ipIn(egress, 'link', 'add', 'vbr-s1', 'type', 'bridge');
    ipIn(egress, 'addr', 'add', '203.0.113.0/31', 'dev', 'vbr-s1');
    ipIn(egress, '-6', 'addr', 'add', '2001:db8:1000::/127', 'dev', 'vbr-s1', 'nodad');
    ipIn(egress, 'link', 'set', 'vbr-s1', 'up');
    const desired: EgressDesired = {
      asn: ASN, routerId: PROV[0].ours[0], maxLength: { ipv4: 28, ipv6: 48 },
      providers: PROV.flatMap((p) => [
        { address: p.theirs[0], asn: p.asn, families: ['ipv4' as const], maxPrefixes: 10 },
        { address: p.theirs[1], asn: p.asn, families: ['ipv6' as const], maxPrefixes: o.full + 10 },
      ]),
      slices: [{ slice: 's1', table: 4101, blocks: [B4, B6], routes: o.full ? 'full' : 'default', nextHops: [{ address: '203.0.113.1', dev: 'vbr-s1' }, { address: '2001:db8:1000::1', dev: 'vbr-s1' }] }],
    };
    const agentLog: string[] = [];
    const e = new AgentEgress({ name: 'bench', netns: egress, runDir: dir, log: (l) => { agentLog.push(l); if (agentLog.length > 50) agentLog.shift(); } });
    eg = e;
    // The agent's reconcile timer (2 s by default): a pass while gobgpd is gone fails, as it would.
    let passing = false;
    const pass = async (): Promise<void> => { if (passing) return; passing = true; try { await e.apply(desired); } catch { /* gobgpd restarting */ } finally { passing = false; } };
    await e.apply(desired);
    timer = setInterval(() => void pass(), 2000);
    const sock = e.apiSocket;
    const established = async (): Promise<boolean[]> => {
      const outs = await Promise.all(birds.map((b) => b.birdc('show', 'protocols')));
      return SESSIONS.map(({ p, proto }) => new RegExp(`${proto}\\s+BGP\\s+\\S+\\s+up\\s+\\S+\\s+Established`).test(outs[PROV.indexOf(p)]!));
    };
    const prefixesAt = async (): Promise<boolean> => (await Promise.all(birds.flatMap((b) => [b.has(B4), b.has(B6)]))).every(Boolean);
    await poll('all sessions Established', async () => (await established()).every(Boolean), 60_000, 100)
      .catch((err: Error) => { throw new Error(`${err.message}\n${birds.flatMap((b) => b.log.slice(-5)).join('\n')}\n${agentLog.join('\n')}`); });
    await poll('the prefixes at both providers', prefixesAt, 20_000, 50);
    for (let k = 0; k < o.hogs; k++) hogs.push(spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));

    for (let r = 1; r <= o.runs; r++) {
      await new Promise((res) => setTimeout(res, 3000)); // BIRD's error-forget time is not what we measure: let the dust settle a little
      if (o.full) await poll('the full table in the slice\'s table', () => (e.status()?.slices[0]?.routesInstalled ?? 0) >= o.full, 120_000, 200);
      const pid = findGobgpd(sock);
      if (pid === undefined) throw new Error('no gobgpd');
      if (o.hang) {
        process.kill(pid, 'SIGSTOP');
        await poll('every session down at BIRD (hold timer)', async () => (await established()).every((u) => !u), 60_000, 100);
      }
      const logMark = birds.map((b) => b.log.length);
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      const run: Partial<Run> & { session: number[] } = { session: SESSIONS.map(() => NaN) };
      const down = SESSIONS.map(() => o.hang); // after a hang BIRD has them down already
      await poll(`run ${r}: every session back and the prefixes at both providers`, async () => {
        const t = Date.now() - t0;
        if (run.newPid === undefined) { const p = findGobgpd(sock); if (p !== undefined && p !== pid) run.newPid = t; }
        if (run.newPid !== undefined && run.peers === undefined) {
          const c = gobgpClient(`unix://${sock}`);
          try { if ((await collect(c, 'ListPeer', c.listPeer, {}, 1000)).length === desired.providers.length) run.peers = Date.now() - t0; } catch { /* not up yet */ } finally { c.close(); }
        }
        const up = await established();
        // A session counts once BIRD saw it go down (it may take a moment to notice the close).
        up.forEach((u, i) => { if (!u) down[i] = true; else if (down[i] && Number.isNaN(run.session[i]!)) run.session[i] = Date.now() - t0; });
        if (run.session.every((x) => !Number.isNaN(x)) && run.allSessions === undefined) run.allSessions = Math.max(...run.session);
        if (run.allSessions !== undefined && await prefixesAt()) { run.prefixes = Date.now() - t0; return true; }
        return false;
      }, 120_000, 20);
      // Each session's first TCP connection after the kill, from BIRD's log.
      run.connect = SESSIONS.map(({ p, proto }) => {
        const b = birds[PROV.indexOf(p)]!;
        const line = b.log.slice(logMark[PROV.indexOf(p)]).flatMap((chunk) => chunk.split('\n'))
          .find((l) => l.includes(`${proto}: Incoming connection`) && (birdTime(l) ?? 0) >= t0);
        const at = line ? birdTime(line) : undefined;
        return at === undefined ? NaN : at - t0;
      });
      runs.push(run as Run);
      log(`  run ${r}: new gobgpd ${run.newPid} ms, peers configured ${run.peers} ms, first connections ${run.connect.join('/')} ms, sessions ${run.session.join('/')} ms, prefixes back ${run.prefixes} ms`);
    }
  } finally {
    if (timer) clearInterval(timer);
    for (const h of hogs) h.kill('SIGKILL');
    await eg?.apply(undefined).catch(() => undefined);
    for (const b of birds) await b.stop();
    for (const ns of made) removeNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  }

  const stats = (xs: number[]): { median: number; max: number; min: number } => {
    const v = xs.filter((x) => !Number.isNaN(x));
    return { median: round(median(v), 0), max: Math.max(...v), min: Math.min(...v) };
  };
  process.stdout.write(`${JSON.stringify({
    bird: o.bird, hang: o.hang, runs: o.runs, hogs: o.hogs, full: o.full, loadavg_1m: round(loadavg()[0]!, 2),
    new_pid_ms: stats(runs.map((x) => x.newPid)),
    peers_ms: stats(runs.map((x) => x.peers)),
    connect_after_peers_ms: stats(runs.flatMap((x) => x.connect.map((c) => c - x.peers))),
    connect_ms: stats(runs.flatMap((x) => x.connect)),
    session_ms: stats(runs.flatMap((x) => x.session)),
    all_sessions_ms: stats(runs.map((x) => x.allSessions)),
    prefixes_ms: stats(runs.map((x) => x.prefixes)),
    samples: { all_sessions_ms: runs.map((x) => x.allSessions), prefixes_ms: runs.map((x) => x.prefixes), connect_ms: runs.map((x) => x.connect) },
  })}\n`);
}

main().catch((e: unknown) => {
  log(`bgp-restart benchmark failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exitCode = 1;
});
