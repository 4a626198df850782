// One lab node's agent as its own process (bench/lab.ts starts one per node
// namespace with `nsenter --net=…`, so it runs in that network namespace and
// shares the host's mount namespace: the experiment namespaces it creates
// under /run/netns are visible to everyone, as on a real node). It is
// `visp agent` itself, with the bench's --trace instrumentation on top.
//   node dist/bench/lib/agent-proc.js --controller unix:/path --node n3 [--trace] [other `visp agent` flags]
import { AgentCore } from '../../src/agent/agent.js';
import { agentCmd } from '../../src/cli/daemons.js';
import { NodeKernel } from '../../src/endpoint/node.js';
import { epochMs, traceMethod, traceStalls } from './trace.js';

const log = (l: string): void => { process.stderr.write(`${new Date().toISOString()} ${l}\n`); };

// --trace: time the agent's phases and event-loop stalls (bench instrumentation only).
if (process.argv.includes('--trace')) {
  traceMethod(AgentCore.prototype, 'setDesired', (a) => { const d = a[0] as { generation: number; endpoints: unknown[]; teardowns: unknown[] }; return `gen ${d.generation} endpoints ${d.endpoints.length} teardowns ${d.teardowns.length}`; }, log);
  traceMethod(NodeKernel.prototype, 'reconcile', (a) => `endpoints ${(a[0] as unknown[]).length}${(a[1] as { dryRun?: boolean } | undefined)?.dryRun ? ' dry-run' : ''}`, log);
  traceMethod(NodeKernel.prototype, 'deleteSlice', (a) => `group ${String(a[0])} namespaces ${(a[1] as unknown[]).length}`, log);
  const emit = AgentCore.prototype.emit;
  AgentCore.prototype.emit = function (this: AgentCore, ev: string, ...args: unknown[]) {
    if (ev === 'report') { const r = args[0] as { generation: number; tornDown: string[]; endpoints: unknown[] }; const t = epochMs(); log(`trace report gen ${r.generation} endpoints ${r.endpoints.length} tornDown ${r.tornDown.length} start ${t} end ${t}`); }
    return (emit as (this: AgentCore, ev: string, ...a: unknown[]) => boolean).call(this, ev, ...args);
  } as typeof emit;
  traceStalls(log);
}

await agentCmd(process.argv.slice(2).filter((a) => a !== '--trace'));
// Closed on SIGTERM/SIGINT; exit as bin/visp does, whatever handles linger.
process.exit(process.exitCode ?? 0);
