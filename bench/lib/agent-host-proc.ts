// Every lab node's agent in this one process, as lab mode runs them
// (src/lab/agent-host.ts): each its own AgentCore in its node's namespace,
// with its own certificate and stream. bench/lab.ts starts one of these
// instead of one agent-proc per node; --trace adds the bench's phase and
// event-loop instrumentation (lines prefixed with the node's name).
//   node dist/bench/lib/agent-host-proc.js --controller unix:/path --nodes FILE [--run-dir D] [--trace] [--loop-delay]
// FILE: JSON [{ name, netns, underlay: [...], tls: { ca, cert, key } }].
// --loop-delay: every 5 s a line "loop-delay p50 P p99 P max M" (ms, over the last 5 s).
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { AgentHost, type HostedNode } from '../../src/lab/agent-host.js';
import { AgentCore } from '../../src/agent/agent.js';
import { NodeKernel } from '../../src/endpoint/node.js';
import { epochMs, traceMethod, traceStalls } from './trace.js';

const { values: v } = parseArgs({
  options: { controller: { type: 'string' }, nodes: { type: 'string' }, 'run-dir': { type: 'string' }, trace: { type: 'boolean' }, 'loop-delay': { type: 'boolean' } },
  strict: true,
});
if (!v.controller || !v.nodes) {
  process.stderr.write('usage: agent-host-proc --controller ADDRESS --nodes FILE [--run-dir D] [--trace] [--loop-delay]\n');
  process.exit(2);
}
const line = (l: string): void => { process.stderr.write(`${new Date().toISOString()} ${l}\n`); };
const nodes = JSON.parse(readFileSync(v.nodes, 'utf8')) as HostedNode[];

if (v.trace) {
  // The node a traced call belongs to: its core's or kernel's namespace.
  const nodeOf = new Map(nodes.map((n) => [n.netns, n.name]));
  const who = (self: unknown): string => nodeOf.get((self as { netns?: string; opts?: { netns?: string } }).netns ?? (self as { opts?: { netns?: string } }).opts?.netns ?? '') ?? '?';
  const traced = (name: string) => (l: string): void => line(`${name}: ${l}`);
  const wrap = <C extends object>(proto: C, m: string, what: (a: unknown[]) => string): void => {
    const orig = (proto as Record<string, unknown>)[m] as (...a: unknown[]) => unknown;
    (proto as Record<string, unknown>)[m] = function (this: unknown, ...a: unknown[]) {
      const holder = {} as C;
      (holder as Record<string, unknown>)[m] = orig;
      traceMethod(holder, m, what, traced(who(this)));
      return ((holder as Record<string, unknown>)[m] as (...x: unknown[]) => unknown).apply(this, a);
    };
  };
  wrap(AgentCore.prototype, 'setDesired', (a) => { const d = a[0] as { generation: number; endpoints: unknown[]; teardowns: unknown[] }; return `gen ${d.generation} endpoints ${d.endpoints.length} teardowns ${d.teardowns.length}`; });
  wrap(NodeKernel.prototype, 'reconcile', (a) => `endpoints ${(a[0] as unknown[]).length}${(a[1] as { dryRun?: boolean } | undefined)?.dryRun ? ' dry-run' : ''}`);
  wrap(NodeKernel.prototype, 'deleteSlice', (a) => `group ${String(a[0])} namespaces ${(a[1] as unknown[]).length}`);
  const emit = AgentCore.prototype.emit;
  AgentCore.prototype.emit = function (this: AgentCore, ev: string, ...args: unknown[]) {
    if (ev === 'report') { const r = args[0] as { generation: number; tornDown: string[]; endpoints: unknown[] }; const t = epochMs(); line(`${who(this)}: trace report gen ${r.generation} endpoints ${r.endpoints.length} tornDown ${r.tornDown.length} start ${t} end ${t}`); }
    return (emit as (this: AgentCore, ev: string, ...a: unknown[]) => boolean).call(this, ev, ...args);
  } as typeof emit;
  traceStalls((l) => line(`host: ${l}`));
}
if (v['loop-delay']) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  setInterval(() => {
    line(`loop-delay p50 ${(h.percentile(50) / 1e6).toFixed(1)} p99 ${(h.percentile(99) / 1e6).toFixed(1)} max ${(h.max / 1e6).toFixed(1)}`);
    h.reset();
  }, 5000).unref();
}

const host = new AgentHost({ controller: v.controller, nodes, ...(v['run-dir'] ? { runDir: v['run-dir'] } : { runDir: '/run/visp' }), log: (n, l) => line(`${n ?? 'host'}: ${l}`) });
line(`agent host: ${nodes.length} agents, dialing ${v.controller}`);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => { host.close().catch((e: Error) => line(`close: ${e.message}`)).finally(() => process.exit(0)); });
}
await host.start();
line('agent host: every agent started');
