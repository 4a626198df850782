// The two long-running commands: `visp controller` and `visp agent`. Both log
// one line per event to stderr and stop cleanly on SIGINT/SIGTERM.
import { startAgent } from '../api/agent-client.js';
import { startController } from '../api/controller-server.js';
import { parse, positiveInt, UsageError } from './args.js';
import { normalizeAddress } from './target.js';
import { readPools } from './pools.js';

const DEFAULT_LISTEN = 'unix:/run/visp/controller.sock';
const DEFAULT_STORE = '/var/lib/visp/store.sqlite';

const log = (line: string): void => { process.stderr.write(`${new Date().toISOString()} ${line}\n`); };

function untilSignal(close: () => Promise<void>, what: string): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (sig: NodeJS.Signals): void => {
      if (stopping) process.exit(1);
      stopping = true;
      log(`${what}: ${sig}, stopping`);
      close().then(() => resolve(), (e: unknown) => { log(`${what}: stopping: ${(e as Error).message}`); process.exitCode = 1; resolve(); });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function controllerCmd(args: string[]): Promise<void> {
  const { values } = parse('controller', args, { listen: { type: 'string' }, store: { type: 'string' }, pools: { type: 'string' } });
  const ipam = values.pools !== undefined ? readPools(values.pools) : undefined;
  const h = await startController({
    listen: [{ address: normalizeAddress(values.listen ?? DEFAULT_LISTEN) }],
    labPools: !ipam, // interim: config files and --lab replace this
    storePath: values.store ?? DEFAULT_STORE,
    ...(ipam ? { ipam } : {}),
    log,
  });
  await untilSignal(() => h.close(), 'controller');
}

export async function agentCmd(args: string[]): Promise<void> {
  const { values } = parse('agent', args, {
    controller: { type: 'string' }, node: { type: 'string' }, underlay: { type: 'string' }, 'reconcile-interval': { type: 'string' }, 'run-dir': { type: 'string' },
  });
  if (!values.controller) throw new UsageError('agent: flag --controller is required (the controller\'s address)');
  if (!values.node) throw new UsageError('agent: flag --node is required (this node\'s name)');
  const underlay = values.underlay?.split(',').map((s) => s.trim()).filter(Boolean);
  const h = await startAgent({
    controller: normalizeAddress(values.controller),
    node: values.node,
    ...(underlay?.length ? { underlay } : {}),
    ...(values['run-dir'] ? { runDir: values['run-dir'] } : {}),
    ...(values['reconcile-interval'] !== undefined ? { reconcileIntervalMs: positiveInt('reconcile-interval', values['reconcile-interval']) } : {}),
    log,
  });
  log(`visp agent ${values.node}: dialing ${values.controller}`);
  await untilSignal(() => h.close(), `agent ${values.node}`);
}
