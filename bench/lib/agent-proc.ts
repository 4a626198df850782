// One lab node's agent as its own process (bench/lab.ts starts one per node
// namespace with `nsenter --net=…`, so it runs in that network namespace and
// shares the host's mount namespace: the experiment namespaces it creates
// under /run/netns are visible to everyone, as on a real node). It runs
// startAgent as `visp agent` does, over mTLS with the node's certificate
// (the controller's plaintext socket is an AM's, not an agent's), with the
// bench's --trace instrumentation on top.
//   node dist/bench/lib/agent-proc.js --controller unix:/path --node n3 --ca F --cert F --key F [--run-dir D] [--trace]
import { parseArgs } from 'node:util';
import { AgentCore } from '../../src/agent/agent.js';
import { startAgent } from '../../src/api/agent-client.js';
import { NodeKernel } from '../../src/endpoint/node.js';
import { epochMs, traceMethod, traceStalls } from './trace.js';

const log = (l: string): void => { process.stderr.write(`${new Date().toISOString()} ${l}\n`); };

const { values: v } = parseArgs({
  options: {
    controller: { type: 'string' }, node: { type: 'string' }, ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' },
    'run-dir': { type: 'string' }, trace: { type: 'boolean' },
  },
  strict: true,
});
if (!v.controller || !v.node || !v.ca || !v.cert || !v.key) {
  process.stderr.write('usage: agent-proc --controller ADDRESS --node NAME --ca F --cert F --key F [--run-dir D] [--trace]\n');
  process.exit(2);
}

// --trace: time the agent's phases and event-loop stalls (bench instrumentation only).
if (v.trace) {
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

const agent = await startAgent({
  controller: v.controller, node: v.node, tls: { ca: v.ca, cert: v.cert, key: v.key },
  ...(v['run-dir'] ? { runDir: v['run-dir'] } : {}), log,
});
log(`agent ${v.node}: dialing ${v.controller}`);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    // Exit as bin/visp does once closed, whatever handles linger.
    agent.close().catch((e: Error) => log(`close: ${e.message}`)).finally(() => process.exit(0));
  });
}
