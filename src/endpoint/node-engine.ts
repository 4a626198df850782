// The node's visp-engine (userspace tunnels), supervised for NodeKernel:
// one process per node, named after the node's namespace; started on first
// need, adopted if it outlived an earlier agent, restarted by its supervisor
// (src/dataplane/engine-process.ts) when it dies, after which `onRestart`
// gives it its tunnels again; released, never stopped, when the agent
// closes (the next agent adopts it and the links keep forwarding).
import { readlinkSync } from 'node:fs';
import type { EngineClient, EngineTunnelState } from '../dataplane/engine-client.js';
import { EngineProcess } from '../dataplane/engine-process.js';
import { IncompatibleStateError } from '../errors.js';

export interface NodeEngineOptions {
  /** The node's named namespace; absent: the one this process runs in. */
  netns?: string;
  /** Run directory (socket, log; default /run/visp), name (default: the namespace's), binary. false: no engine. */
  engine?: { runDir?: string; name?: string; binary?: string } | false;
  log?: (line: string) => void;
  /** A restarted engine has no tunnels: give them back. */
  onRestart: () => Promise<void>;
}

export class NodeEngine {
  private proc: EngineProcess | undefined;

  constructor(private readonly opts: NodeEngineOptions) {}

  /** The engine's process handle (not started), or undefined when this node has none. */
  process(): EngineProcess | undefined {
    if (this.proc || this.opts.engine === false) return this.proc;
    const o = this.opts.engine ?? {};
    // Not in a named namespace (an agent under nsenter, a real node): name it by the namespace's inode.
    const name = o.name ?? this.opts.netns ?? `ns${/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1] ?? process.pid}`;
    try {
      this.proc = new EngineProcess({
        // The namespace entered is the node's; the name only names the socket and the log.
        netns: this.opts.netns ?? name, name, enter: this.opts.netns !== undefined,
        ...(o.runDir ? { runDir: o.runDir } : {}), ...(o.binary ? { binary: o.binary } : {}),
        onRestart: () => this.opts.onRestart(),
        ...(this.opts.log ? { log: this.opts.log } : {}),
      });
    } catch { return undefined; }   // not built: userspace kinds are refused by the probe anyway
    return this.proc;
  }

  /** A connected client, starting (or adopting) the engine if needed. */
  async client(signal?: AbortSignal): Promise<EngineClient> {
    const e = this.process();
    if (!e) throw new IncompatibleStateError('visp-engine is not available on this node', { field: 'kind' });
    if (!e.running) await e.start(signal);
    return e.client;
  }

  /** The engine's tunnels by name; with `start`, the engine is started if it is not running, otherwise none is started. */
  async tunnels(start: boolean, signal?: AbortSignal): Promise<Map<string, EngineTunnelState>> {
    const e = this.process();
    if (!e) return new Map();
    if (!start && !e.running && !(await e.adopt(signal))) return new Map();
    const c = start ? await this.client(signal) : e.client;
    return new Map((await c.list(signal)).tunnels.map((t) => [t.name, t]));
  }

  /** Deletes one of its tunnels (one that `tunnels` listed: the engine is running). */
  deleteTunnel(name: string, signal?: AbortSignal): Promise<void> {
    return this.process()!.client.deleteTunnel(name, signal);
  }

  /** Stop the engine (its devices go with it): tests and node decommissioning, never an agent restart. */
  async stop(): Promise<void> {
    const e = this.process();
    if (e && (e.running || (await e.adopt()))) await e.stop();
  }

  /** Let go of the process without stopping it. */
  release(): void {
    this.proc?.release();
  }
}
