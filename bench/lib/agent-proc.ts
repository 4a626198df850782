// One lab node's agent as its own process (bench/lab.ts starts one per node
// namespace with `nsenter --net=…`, so it runs in that network namespace and
// shares the host's mount namespace: the experiment namespaces it creates
// under /run/netns are visible to everyone, as on a real node).
//   node dist/bench/lib/agent-proc.js --controller unix:/path --node n3
import { AgentCore } from '../../src/agent/agent.js';
import { startAgent } from '../../src/api/agent-client.js';
import { NodeKernel } from '../../src/endpoint/node.js';
import { epochMs, traceMethod, traceStalls } from './trace.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

const controller = arg('controller');
const node = arg('node');
if (!controller || !node) {
  process.stderr.write('usage: agent-proc --controller ADDRESS --node NAME [--reconcile-ms MS]\n');
  process.exit(2);
}
const every = Number(arg('reconcile-ms') ?? 0);
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

const agent = await startAgent({ controller, node, log, ...(every > 0 ? { reconcileIntervalMs: every } : {}) });
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    agent.close().catch((e: Error) => log(`close: ${e.message}`)).finally(() => process.exit(0));
  });
}
