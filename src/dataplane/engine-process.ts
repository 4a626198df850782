// Runs visp-engine for one node: inside the node's network namespace (the
// TAPs and raw sockets must live there), detached from the agent so that
// forwarding survives an agent restart. A restarted agent adopts a running
// engine through its control socket; an engine that dies under a running
// agent is restarted and given its tunnels again (`onRestart`).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidSpecError, UnavailableError } from '../errors.js';
import { isAlive } from '../proc.js';
import { EngineClient } from './engine-client.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The built engine: native/engine/build/visp-engine, from src/ (tsx) or dist/src/ (tsc). */
export function engineBinary(): string {
  for (const up of ['../..', '../../..']) {
    const p = resolve(here, up, 'native/engine/build/visp-engine');
    if (existsSync(p)) return p;
  }
  throw new UnavailableError('visp-engine is not built (run scripts/build-engine.sh)');
}

export interface EngineProcessOptions {
  /** Named network namespace of the node (/run/netns/NAME); with `enter: false`, only the name of the socket and log. */
  netns: string;
  /**
   * Start the engine inside `netns` with `ip netns exec` (default). false:
   * this process already runs in the node's namespace (an agent started
   * under nsenter, or on a real node): the engine is started right here.
   */
  enter?: boolean;
  /** What names the socket and the log (default: netns). An in-process agent for a node namespace names them after its node, and still enters the namespace. */
  name?: string;
  /** Directory for the control socket and the log. Default /run/visp. */
  runDir?: string;
  binary?: string;
  /** Called with a connected client after the engine was restarted because it died. */
  onRestart?: (client: EngineClient) => Promise<void>;
  /** Log of the restart loop (default: nothing). */
  log?: (msg: string) => void;
  /**
   * The engine's AF_XDP fast path on underlay devices (docs/dataplane.md):
   * auto (default, or VISP_ENGINE_XDP), off (raw sockets only), native or
   * generic (only that XDP mode).
   */
  xdp?: XdpMode;
}

export const XDP_MODES = ['auto', 'off', 'native', 'generic'] as const;
export type XdpMode = typeof XDP_MODES[number];

/** The mode VISP_ENGINE_XDP asks for; auto when unset. */
export function xdpModeFromEnv(env: NodeJS.ProcessEnv = process.env): XdpMode {
  const v = env.VISP_ENGINE_XDP ?? 'auto';
  if (!(XDP_MODES as readonly string[]).includes(v)) {
    throw new InvalidSpecError(`VISP_ENGINE_XDP=${JSON.stringify(v)}: one of ${XDP_MODES.join(', ')}`, { field: 'VISP_ENGINE_XDP' });
  }
  return v as XdpMode;
}

export class EngineProcess {
  readonly netns: string;
  readonly socketPath: string;
  readonly logPath: string;
  private readonly binary: string;
  private child: ChildProcess | undefined;
  private stopping = false;
  private clientRef: EngineClient | undefined;
  /** Pid of the engine (also when adopted rather than started). */
  pid: number | undefined;
  /** Restarts after an unexpected exit, for tests and metrics. */
  restarts = 0;
  private starting: Promise<void> | undefined;
  /** Watches an adopted engine (not our child: no exit event) for death. */
  private watch: NodeJS.Timeout | undefined;

  constructor(private readonly opts: EngineProcessOptions) {
    for (const v of [opts.netns, opts.name ?? opts.netns]) if (!/^[A-Za-z0-9_.-]+$/.test(v)) throw new InvalidSpecError(`netns ${JSON.stringify(v)}`, { field: 'netns' });
    this.netns = opts.netns;
    const dir = opts.runDir ?? '/run/visp';
    const name = opts.name ?? opts.netns;
    this.socketPath = join(dir, `engine-${name}.sock`);
    this.logPath = join(dir, `engine-${name}.log`);
    this.binary = opts.binary ?? engineBinary();
  }

  get client(): EngineClient {
    this.clientRef ??= new EngineClient(this.socketPath);
    return this.clientRef;
  }

  /** The engine answered and its process still exists. */
  get running(): boolean {
    if (this.pid === undefined) return false;
    // A zombie (killed, not yet reaped by whoever adopted it) counts as dead.
    return isAlive(this.pid);
  }

  /** Adopt the engine serving the socket, if one does; never starts one. */
  async adopt(signal?: AbortSignal): Promise<boolean> {
    if (!existsSync(this.socketPath)) return false;
    try {
      this.pid = await this.client.ping(signal);
      this.stopping = false;
      this.watchAdopted();
      return true;
    } catch {
      this.client.close();
      return false;
    }
  }

  /** Adopt the engine already serving the socket, or start one. Resolves when it answers. Concurrent calls share one start. */
  start(signal?: AbortSignal): Promise<void> {
    this.starting ??= this.startOnce(signal).finally(() => { this.starting = undefined; });
    return this.starting;
  }

  private async startOnce(signal?: AbortSignal): Promise<void> {
    this.stopping = false;
    if (this.running && this.child) return;
    if (await this.adopt(signal)) return;   // it outlived an earlier agent
    mkdirSync(dirname(this.socketPath), { recursive: true });
    const logFd = openSync(this.logPath, 'a');
    // `ip netns exec` execs the engine itself: the child's pid is the engine's.
    const engineArgs = ['--control', this.socketPath, '--xdp', this.opts.xdp ?? xdpModeFromEnv()];
    const [cmd, args] = this.opts.enter === false
      ? [this.binary, engineArgs]
      : ['ip', ['netns', 'exec', this.netns, this.binary, ...engineArgs]];
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    child.unref();
    this.child = child;
    child.once('exit', (code, sig) => this.onExit(child, code, sig));
    const deadline = Date.now() + 5000;
    for (;;) {
      signal?.throwIfAborted();
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new UnavailableError(`visp-engine in ${this.netns} exited at start (${child.exitCode ?? child.signalCode}); see ${this.logPath}`);
      }
      try {
        this.pid = await this.client.ping(signal);
        return;
      } catch (err) {
        this.client.close();
        if (Date.now() > deadline) throw new UnavailableError(`visp-engine in ${this.netns}: no answer on ${this.socketPath}`, { cause: err });
        await sleep(20);
      }
    }
  }

  /** An adopted engine is not our child: poll its pid so its death restarts it too. */
  private watchAdopted(): void {
    if (this.watch || !this.opts.onRestart || this.child) return;
    const pid = this.pid;
    this.watch = setInterval(() => {
      if (this.pid !== pid || this.child) { this.unwatch(); return; }
      if (this.running) return;
      this.unwatch();
      this.died(`adopted pid ${pid} is gone`);
    }, 500);
    this.watch.unref();
  }

  private unwatch(): void {
    if (this.watch) clearInterval(this.watch);
    this.watch = undefined;
  }

  private onExit(child: ChildProcess, code: number | null, sig: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.died(String(code ?? sig));
  }

  private died(how: string): void {
    this.pid = undefined;
    this.client.close();
    if (this.stopping || !this.opts.onRestart) return;
    this.opts.log?.(`visp-engine in ${this.netns} exited (${how}); restarting`);
    this.restarts++;
    void (async () => {
      await sleep(100);   // do not spin if it dies at once
      if (this.stopping) return;
      await this.start();
      await this.opts.onRestart!(this.client);
    })().catch((err: unknown) => this.opts.log?.(`visp-engine in ${this.netns}: restart failed: ${String(err)}`));
  }

  /**
   * Let go of the engine without stopping it (an agent shutting down: the
   * engine keeps forwarding, and the next agent adopts it).
   */
  release(): void {
    this.stopping = true;
    this.unwatch();
    this.client.close();
    this.child?.removeAllListeners('exit');
    this.child = undefined;
  }

  /** Stop the engine (its TAPs go with it). SIGTERM, then SIGKILL after 2 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unwatch();
    this.client.close();
    const pid = this.pid ?? this.child?.pid;
    if (pid === undefined) return;
    const alive = (): boolean => isAlive(pid);
    try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    for (let i = 0; i < 100 && alive(); i++) await sleep(20);
    if (alive()) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    for (let i = 0; i < 50 && alive(); i++) await sleep(20);
    this.pid = undefined;
    this.child = undefined;
  }
}
