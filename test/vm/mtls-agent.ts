// Stand-in for `visp agent` with its TLS flags (--tls-ca --tls-cert
// --tls-key), until the CLI has them: the same flags, the same startAgent,
// the same log lines on stderr, stops on SIGINT/SIGTERM. Used by the VM
// lane's proof on separate kernels for every agent it starts.
//
//   node --import tsx test/vm/mtls-agent.ts agent --controller ADDR --node NAME \
//     --tls-ca CA --tls-cert CERT --tls-key KEY [--underlay A,B] [--run-dir DIR] [--reconcile-interval MS]
import { parseArgs } from 'node:util';
import { startAgent } from '../../src/api/agent-client.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    controller: { type: 'string' }, node: { type: 'string' }, underlay: { type: 'string' }, 'run-dir': { type: 'string' },
    'reconcile-interval': { type: 'string' }, 'tls-ca': { type: 'string' }, 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' },
  },
});
const log = (line: string): void => { process.stderr.write(`${new Date().toISOString()} ${line}\n`); };
if (positionals[0] !== 'agent' || !values.controller || !values['tls-ca'] || !values['tls-cert'] || !values['tls-key']) {
  log('usage: mtls-agent.ts agent --controller ADDR --tls-ca CA --tls-cert CERT --tls-key KEY [--node NAME] [--underlay A,B] [--run-dir DIR] [--reconcile-interval MS]');
  process.exit(2);
}
const underlay = values.underlay?.split(',').map((s) => s.trim()).filter(Boolean);
const h = await startAgent({
  controller: values.controller,
  ...(values.node ? { node: values.node } : {}),
  tls: { ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'] },
  ...(underlay?.length ? { underlay } : {}),
  ...(values['run-dir'] ? { runDir: values['run-dir'] } : {}),
  ...(values['reconcile-interval'] ? { reconcileIntervalMs: Number(values['reconcile-interval']) } : {}),
  log,
});
log(`visp agent ${h.node}: dialing ${values.controller}`);
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) process.exit(1);
    stopping = true;
    log(`agent ${h.node}: ${sig}, stopping`);
    h.close().then(() => process.exit(0), (e: Error) => { log(`agent ${h.node}: stopping: ${e.message}`); process.exit(1); });
  });
}
