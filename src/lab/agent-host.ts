// Lab mode's agents, all in one process. A lab node's agent is the same
// agent as on a testbed (startAgent: its own AgentCore, its own node
// kernel in its own network namespace, its own certificate, its own stream
// to the controller, which cannot tell it from a process of its own); only
// the process is shared. Why: a Node.js process costs ~70 MB before it does
// anything, so one agent process per node held 7 GB at 100 nodes, while one
// more agent in a shared process costs about 1 MB (docs/lab-scale.md).
//
// Each hosted agent has its own lifecycle: one that fails to start, or
// crashes (`crash`, what a test does to one node), is restarted alone after
// a backoff and adopts what it built, as a restarted agent process would;
// the others keep their streams. What an agent built lives in the kernel, so
// a dead host leaves every link carrying traffic, and a new host adopts it.
import { startAgent } from '../api/agent-client.js';
import type { TlsFiles } from '../trust/tls.js';

export interface HostedNode {
  name: string;
  /** The node's network namespace (a name under /run/netns). */
  netns: string;
  underlay: string[];
  tls: TlsFiles;
}

export interface AgentHostOptions {
  controller: string;
  nodes: HostedNode[];
  /** Where each node's visp-engine and gobgpd sockets and logs go. */
  runDir: string;
  /** Per agent; default: `hostedReconcileInterval(nodes.length)`. */
  reconcileIntervalMs?: number;
  /** How many agents start at once (each probes its node and dials; default 16). */
  startConcurrency?: number;
  /** One line, with the node it is about (undefined: the host itself). */
  log: (node: string | undefined, line: string) => void;
}

/**
 * The periodic drift check and report, per hosted agent: every 2 s (an
 * agent process's default) up to 100 nodes, then 20 ms per node, so the
 * host does ~50 no-op passes a second whatever the lab's size. A deleted
 * link is still seen at once (the link watcher schedules a pass).
 */
export const hostedReconcileInterval = (nodes: number): number => Math.max(2000, 20 * nodes);

interface Hosted {
  node: HostedNode;
  handle?: { close(): Promise<void> };
  starting: boolean;
  restarts: number;
  timer?: NodeJS.Timeout;
}

export class AgentHost {
  private readonly agents = new Map<string, Hosted>();
  private closed = false;

  constructor(private readonly opts: AgentHostOptions) {
    for (const n of opts.nodes) this.agents.set(n.name, { node: n, starting: false, restarts: 0 });
  }

  /** Start every agent (a bounded number at a time); resolves when each has started or been scheduled to retry. */
  async start(): Promise<void> {
    const queue = [...this.agents.values()];
    const workers = Array.from({ length: Math.min(this.opts.startConcurrency ?? 16, queue.length) }, async () => {
      for (let h = queue.shift(); h; h = queue.shift()) await this.run(h);
    });
    await Promise.all(workers);
  }

  /** Names of the hosted nodes. */
  get nodes(): string[] { return [...this.agents.keys()]; }

  /** Whether a node's agent is running now (not starting, not waiting to be restarted). */
  running(node: string): boolean { return this.agents.get(node)?.handle !== undefined; }

  /**
   * One node's agent dies as a crashed process would: its stream and
   * sockets go at once, nothing is cleaned up; the host restarts it after a
   * backoff and it adopts what it built. The other agents are not touched.
   */
  crash(node: string, why = 'crashed'): void {
    const h = this.agents.get(node);
    if (!h?.handle || this.closed) return;
    const dead = h.handle;
    delete h.handle;
    this.opts.log(node, `agent ${why}; restarting it`);
    void dead.close().catch(() => undefined);
    this.restartLater(h);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.agents.values()].map(async (h) => {
      if (h.timer) clearTimeout(h.timer);
      const handle = h.handle;
      delete h.handle;
      await handle?.close().catch((e: Error) => this.opts.log(h.node.name, `close: ${e.message}`));
    }));
  }

  private async run(h: Hosted): Promise<void> {
    if (this.closed || h.handle || h.starting) return;
    h.starting = true;
    const { node } = h;
    const log = (line: string): void => this.opts.log(node.name, line);
    try {
      const handle = await startAgent({
        controller: this.opts.controller, node: node.name, tls: node.tls, netns: node.netns, underlay: node.underlay,
        runDir: this.opts.runDir, reconcileIntervalMs: this.opts.reconcileIntervalMs ?? hostedReconcileInterval(this.agents.size), log,
      });
      if (this.closed) { await handle.close(); return; }
      h.handle = handle;
      h.restarts = 0;
    } catch (e) {
      log(`agent failed to start: ${(e as Error).message}`);
      this.restartLater(h);
    } finally {
      h.starting = false;
    }
  }

  private restartLater(h: Hosted): void {
    if (this.closed) return;
    // 0.5 s doubling to 30 s: a node whose namespace is gone does not spin.
    const wait = Math.min(500 * 2 ** h.restarts, 30_000);
    h.restarts++;
    h.timer = setTimeout(() => { delete h.timer; void this.run(h); }, wait);
  }
}
