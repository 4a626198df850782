// One gobgpd per egress node: started, configured over its gRPC API (no
// config file), watched, and restarted when it dies.
//
// Decisions (see docs/egress.md, "GoBGP pitfalls"):
// - No graceful restart, neither the capability nor restart-state (`-r`).
//   Advertising GR for a family that is not in use makes GoBGP wait for the
//   deferral time (300 s) before it sends any route; and a peer that keeps
//   our stale routes after a crash would keep announcing prefixes nobody
//   holds. Without GR a dead gobgpd means an immediate withdrawal at the
//   providers and, after the restart, a re-announcement within seconds.
// - `stop()` is the deliberate end of egress on this node: gobgpd gets
//   SIGTERM, which sends Cease to every peer (they withdraw our prefixes).
//   Nothing else stops it; an agent that restarts should adopt the running
//   gobgpd (`adopt: true`: its API answers, GetBgp shows the same ASN and
//   router id, and its pid is found by its --api-hosts argument) instead of
//   restarting it, so the providers see no flap. An adopted gobgpd is not our
//   child: its death is noticed when a WatchEvent stream on its API ends and
//   the pid is gone, and it is restarted like a child would be.
// - The API listens on a unix socket only (no TCP port on the node).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { IncompatibleStateError, InvalidSpecError, UnavailableError } from '../errors.js';
import { cmdline, findProcesses, isAlive } from '../proc.js';
import type { GetBgpRequest } from './gen/apipb/GetBgpRequest.js';
import type { GetBgpResponse__Output } from './gen/apipb/GetBgpResponse.js';
import { call, gobgpClient, type GobgpApiClient } from './gobgp-client.js';

export interface SpeakerOptions {
  asn: number;
  routerId: string;
  /** BGP listen port (179 unless told; -1 = do not listen, connect out only). */
  listenPort?: number;
  /** Unix socket path for gobgpd's gRPC API. */
  apiSocket: string;
  /** Named network namespace to run in (nsenter --net=/run/netns/NAME); the caller's otherwise. */
  netns?: string;
  /** Called with a fresh client after every (re)start and StartBgp: re-apply desired state here. */
  onReady?: (client: GobgpApiClient) => Promise<void>;
  /** gobgpd's log lines (stderr and stdout). */
  log?: (line: string) => void;
  /** Delay before a restart after gobgpd died (ms). */
  restartDelayMs?: number;
  /** Use a gobgpd already serving on apiSocket with the same ASN/router id instead of starting one. */
  adopt?: boolean;
  gobgpd?: string;
  /**
   * gobgpd's output goes to this file (appended), and gobgpd runs in its own
   * session: it then outlives a SIGKILLed agent. (With pipes it would not: a
   * Go program writing to a broken stdout/stderr pipe dies of SIGPIPE.)
   */
  logFile?: string;
}

const live = new Set<ChildProcess>();
// A test runner or agent that exits must not leave gobgpd behind.
process.once('exit', () => { for (const p of live) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));


/**
 * The pid of the gobgpd started with `--api-hosts unix://<sock>` (the socket
 * path is unique per speaker, and /proc/PID/cmdline is visible from any
 * network namespace, unlike /proc/net/unix).
 */
export function findGobgpd(sock: string): number | undefined {
  return findProcesses(['--api-hosts', `unix://${sock}`]).find((pid) => /(^|\/)gobgpd$/.test(cmdline(pid)?.[0] ?? ''));
}

export class Speaker {
  private proc: ChildProcess | undefined;
  private clientInst: GobgpApiClient | undefined;
  private stopping = false;
  private restarting: Promise<void> | undefined;
  /** How many times gobgpd was started (1 after start(); +1 per restart). */
  starts = 0;
  readonly opts: SpeakerOptions;

  constructor(opts: SpeakerOptions) {
    if (!Number.isInteger(opts.asn) || opts.asn < 1 || opts.asn > 0xffffffff) throw new InvalidSpecError(`bgp speaker: bad ASN ${opts.asn}`, { field: 'asn' });
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(opts.routerId)) throw new InvalidSpecError(`bgp speaker: router id must be a dotted quad, got ${opts.routerId}`, { field: 'routerId' });
    this.opts = opts;
  }

  get client(): GobgpApiClient {
    if (!this.clientInst) throw new UnavailableError('bgp speaker: not started');
    return this.clientInst;
  }

  /** gobgpd's pid, started or adopted (undefined when not running). */
  get pid(): number | undefined { return this.proc?.pid ?? this.adopted?.pid; }
  private adopted: { pid: number; watch: { cancel(): void } } | undefined;

  /** Start (or adopt) gobgpd, configure it, run onReady. */
  async start(): Promise<void> {
    this.stopping = false;
    const running = await this.probe();
    if (running) {
      const same = running.asn === this.opts.asn && running.routerId === this.opts.routerId;
      if (!this.opts.adopt || !same) {
        running.client.close();
        throw new IncompatibleStateError(`bgp speaker: a gobgpd already serves ${this.opts.apiSocket} (AS${running.asn}, router id ${running.routerId || 'unset'})${same ? '; pass adopt to take it over' : ''}`);
      }
      const pid = findGobgpd(this.opts.apiSocket);
      if (pid === undefined) {
        running.client.close();
        throw new IncompatibleStateError(`bgp speaker: the gobgpd serving ${this.opts.apiSocket} was not started with --api-hosts unix://${this.opts.apiSocket}; not adopting it`);
      }
      this.clientInst = running.client;
      this.watchAdopted(running.client, pid);
      try {
        await this.opts.onReady?.(running.client);
      } catch (e) {
        this.detach(); // leave the daemon as it was; the caller decides
        throw e;
      }
      return;
    }
    await this.launch();
  }

  /**
   * An adopted gobgpd is not our child, so its death is noticed through its
   * API: a WatchEvent stream that ends. Then, if the pid is gone, restart.
   */
  private watchAdopted(c: GobgpApiClient, pid: number): void {
    const stream = c.watchEvent({ peer: {} });
    this.adopted = { pid, watch: stream };
    stream.on('data', () => { /* peer events: only the stream's liveness matters here */ });
    let handled = false;
    const gone = async (): Promise<void> => {
      if (handled) return;
      handled = true;
      if (this.stopping || this.clientInst !== c) return;
      for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(20);
      if (isAlive(pid)) { this.watchAdopted(c, pid); return; } // a hiccup: watch again
      this.opts.log?.(`speaker: adopted gobgpd (pid ${pid}) is gone; restarting`);
      this.adopted = undefined;
      c.close();
      this.clientInst = undefined;
      this.restarting = this.restartLoop();
    };
    stream.on('error', () => void gone());
    stream.on('end', () => void gone());
  }

  /**
   * The gobgpd answering on apiSocket, if any. A socket nobody answers on is
   * stale only when no gobgpd was started for it: a live one that does not
   * answer in time (busy, stopped, swapping) is still there, and starting a
   * second speaker beside it (the socket removed under it) would fight it
   * for the providers' sessions. That is an error; the caller tries again.
   */
  private async probe(): Promise<{ client: GobgpApiClient; asn: number; routerId: string } | undefined> {
    if (!existsSync(this.opts.apiSocket)) return undefined;
    const c = gobgpClient(`unix://${this.opts.apiSocket}`);
    try {
      const res = await call<GetBgpRequest, GetBgpResponse__Output>(c, 'GetBgp', c.getBgp, {}, 2000);
      return { client: c, asn: res.global?.asn ?? 0, routerId: res.global?.routerId ?? '' };
    } catch (e) {
      c.close();
      const pid = findGobgpd(this.opts.apiSocket);
      if (pid !== undefined) throw new UnavailableError(`bgp speaker: gobgpd (pid ${pid}) serves ${this.opts.apiSocket} but did not answer (${(e as Error).message}); not starting another`, { cause: e });
      return undefined;
    }
  }

  private async launch(): Promise<void> {
    const sock = this.opts.apiSocket;
    rmSync(sock, { force: true });
    const gobgpd = this.opts.gobgpd ?? 'gobgpd';
    const args = ['--api-hosts', `unix://${sock}`, '--pprof-disable', '--log-plain', '--log-level', 'info'];
    const [cmd, argv] = this.opts.netns
      ? ['nsenter', [`--net=/run/netns/${this.opts.netns}`, '--', gobgpd, ...args]]
      : [gobgpd, args];
    let out: number | undefined;
    if (this.opts.logFile) { mkdirSync(dirname(this.opts.logFile), { recursive: true }); out = openSync(this.opts.logFile, 'a'); }
    const p = out !== undefined
      ? spawn(cmd, argv, { stdio: ['ignore', out, out], detached: true })
      : spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (out !== undefined) closeSync(out);
    this.proc = p;
    live.add(p);
    this.starts++;
    const log = this.opts.log;
    const onData = (d: Buffer): void => { if (log) for (const l of d.toString().split('\n')) if (l) log(l); };
    p.stdout?.on('data', onData);
    p.stderr?.on('data', onData);
    const exited = new Promise<void>((resolve) => p.once('close', () => { live.delete(p); resolve(); }));
    p.once('error', (e) => log?.(`speaker: ${cmd}: ${e.message}`));
    p.once('close', (code, sig) => {
      if (this.proc !== p || this.stopping) return;
      log?.(`speaker: gobgpd exited (${code ?? sig}); restarting`);
      this.clientInst?.close();
      this.clientInst = undefined;
      this.restarting = this.restartLoop();
    });

    try {
      // Wait for the API socket, then configure.
      const deadline = Date.now() + 10_000;
      while (!existsSync(sock)) {
        if (p.exitCode !== null || p.signalCode !== null) throw new UnavailableError(`bgp speaker: gobgpd exited while starting (${p.exitCode ?? p.signalCode})`);
        if (Date.now() > deadline) throw new UnavailableError(`bgp speaker: gobgpd API socket ${sock} did not appear`);
        await sleep(20);
      }
      const c = gobgpClient(`unix://${sock}`);
      this.clientInst = c;
      await call(c, 'StartBgp', c.startBgp, {
        global: { asn: this.opts.asn, routerId: this.opts.routerId, listenPort: this.opts.listenPort ?? 179 },
      }, 10_000);
      await this.opts.onReady?.(c);
    } catch (e) {
      // Half-configured: do not leave it running (nor let its exit trigger a
      // second restart); the caller, or restartLoop, starts over.
      if (this.proc === p) this.proc = undefined;
      this.clientInst?.close();
      this.clientInst = undefined;
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      await exited;
      throw e;
    }
  }

  private async restartLoop(): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      await sleep(Math.min((this.opts.restartDelayMs ?? 200) * 2 ** attempt, 10_000));
      if (this.stopping) return;
      try { await this.launch(); return; } catch (e) { this.opts.log?.(`speaker: restart failed: ${(e as Error).message}`); }
    }
  }

  /** Resolves once a pending restart (after gobgpd died) finished. */
  async settled(): Promise<void> { while (this.restarting) { const r = this.restarting; await r; if (r === this.restarting) this.restarting = undefined; } }

  /** Let go of gobgpd without stopping it (an agent handing over to its next run). */
  detach(): void {
    this.stopping = true;
    this.adopted?.watch.cancel();
    this.adopted = undefined;
    this.clientInst?.close();
    this.clientInst = undefined;
    if (this.proc) { live.delete(this.proc); this.proc.unref(); this.proc = undefined; }
  }

  /** Stop gobgpd for good: SIGTERM (peers get Cease and withdraw), SIGKILL after 5 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.clientInst?.close();
    this.clientInst = undefined;
    const adopted = this.adopted;
    this.adopted = undefined;
    if (adopted) {
      adopted.watch.cancel();
      try { process.kill(adopted.pid, 'SIGTERM'); } catch { /* gone */ }
      for (let i = 0; i < 250 && isAlive(adopted.pid); i++) await sleep(20);
      if (isAlive(adopted.pid)) process.kill(adopted.pid, 'SIGKILL');
      rmSync(this.opts.apiSocket, { force: true });
    }
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
    rmSync(this.opts.apiSocket, { force: true });
  }
}
