// One lab node's agent as its own process (bench/lab.ts starts one per node
// namespace with `nsenter --net=…`, so it runs in that network namespace and
// shares the host's mount namespace: the experiment namespaces it creates
// under /run/netns are visible to everyone, as on a real node).
//   node dist/bench/lib/agent-proc.js --controller unix:/path --node n3
import { startAgent } from '../../src/api/agent-client.js';

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

const agent = await startAgent({ controller, node, log, ...(every > 0 ? { reconcileIntervalMs: every } : {}) });
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    agent.close().catch((e: Error) => log(`close: ${e.message}`)).finally(() => process.exit(0));
  });
}
