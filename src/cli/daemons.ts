// The two long-running commands: `visp controller` and `visp agent`. Their
// config files are read in src/config/ (docs/config.md); here: the flags,
// and handing the options over. Both log one record per event to stderr
// (JSON lines; readable lines on a terminal: src/log.ts) and stop cleanly on
// SIGINT/SIGTERM.
import { startAgent } from '../api/agent-client.js';
import { startController } from '../api/controller-server.js';
import { agentOptions, parseUnderlayCapacity, readAgentConfig } from '../config/agent.js';
import type { UnderlayCapacity } from '../agent/underlay-capacity.js';
import { InvalidSpecError } from '../errors.js';
import type { TlsFiles } from '../config/common.js';
import { controllerOptions, DEFAULT_LISTEN, DEFAULT_STORE, readControllerConfig } from '../config/controller.js';
import { command, duration, parse } from './args.js';
import { logTo, processLogger, type LogFn } from '../log.js';

function untilSignal(log: LogFn, close: () => Promise<void>, what: string): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (sig: NodeJS.Signals): void => {
      if (stopping) process.exit(1);
      stopping = true;
      log(`${what}: ${sig}, stopping`);
      close().then(() => resolve(), (e: unknown) => { log(`${what}: stopping: ${(e as Error).message}`, { level: 'error' }); process.exitCode = 1; resolve(); });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

const tlsFlags = {
  'tls-ca': { type: 'string', value: 'FILE', help: 'CA bundle (PEM) peers\' certificates must chain to' },
  'tls-cert': { type: 'string', value: 'FILE', help: 'this side\'s certificate (PEM; visp certs issue)' },
  'tls-key': { type: 'string', value: 'FILE', help: 'this side\'s private key (PEM)' },
} as const;

const tlsOf = (v: { 'tls-ca'?: string; 'tls-cert'?: string; 'tls-key'?: string }): Partial<TlsFiles> => ({
  ...(v['tls-ca'] !== undefined ? { ca: v['tls-ca'] } : {}),
  ...(v['tls-cert'] !== undefined ? { cert: v['tls-cert'] } : {}),
  ...(v['tls-key'] !== undefined ? { key: v['tls-key'] } : {}),
});

export const CONTROLLER = command({
  name: 'controller',
  summary: 'the controller: serves the API (mutual TLS), keeps the store, allocates from the address pools',
  flags: {
    config: { type: 'string', value: 'FILE', help: 'YAML config (docs/config.md); the flags below override it' },
    listen: { type: 'string', multiple: true, value: 'ADDR', help: `host:port or unix:/path to serve on; replaces the config's listen (default ${DEFAULT_LISTEN})` },
    store: { type: 'string', value: 'FILE|URL', help: `the SQLite store (default ${DEFAULT_STORE}), or etcd://HOST:PORT[,…][?prefix=NAME] shared by several controllers (docs/deploy.md)` },
    pools: { type: 'string', value: 'FILE', help: 'address pools and identifier ranges (YAML; docs/config.md); replaces the config\'s' },
    ...tlsFlags,
    'plaintext-identity': { type: 'string', value: 'URI', help: 'no TLS on the unix: listen address(es): every caller there acts as this spiffe:// identity' },
    'audit-log': { type: 'string', value: 'FILE', help: 'JSON-lines audit records (default: the log, stderr)' },
    lab: { type: 'boolean', help: 'lab mode: with no pools configured, hand out the documentation-range lab pools' },
    web: { type: 'string', value: 'ADDR', help: 'serve the read-only web page on host:port (HTTPS; browsers need an operator certificate; docs/operations.md)' },
    metrics: { type: 'string', value: 'ADDR', help: 'serve Prometheus metrics on host:port (HTTPS; scrapers need an operator or read-only operator certificate; docs/operations.md)' },
  },
  notes: 'TLS is required on every listen address but a unix socket with --plaintext-identity.\n' +
    'Pools are required outside --lab: --pools, the config, or a store that already holds them.',
});

export async function controllerCmd(args: string[]): Promise<void> {
  const { values: v } = parse(CONTROLLER, args);
  const config = v.config !== undefined ? readControllerConfig(v.config) : undefined;
  const opts = controllerOptions(config, {
    ...(v.listen ? { listen: v.listen } : {}),
    ...(v.store !== undefined ? { store: v.store } : {}),
    ...(v.pools !== undefined ? { pools: v.pools } : {}),
    tls: tlsOf(v),
    ...(v['plaintext-identity'] !== undefined ? { plaintextIdentity: v['plaintext-identity'] } : {}),
    ...(v['audit-log'] !== undefined ? { auditLog: v['audit-log'] } : {}),
    ...(v.lab ? { lab: true } : {}),
    ...(v.web !== undefined ? { web: v.web } : {}),
    ...(v.metrics !== undefined ? { metrics: v.metrics } : {}),
  });
  const log = logTo(processLogger({ component: 'controller' }));
  const h = await startController({ ...opts, log });
  await untilSignal(log, () => h.close(), 'controller');
}

export const AGENT = command({
  name: 'agent',
  summary: 'one node\'s agent: dials the controller, builds what it asks of this node, repairs drift, reports',
  flags: {
    config: { type: 'string', value: 'FILE', help: 'YAML config (docs/config.md); the flags below override it' },
    controller: { type: 'string', value: 'ADDR', help: 'the controller: host:port or unix:/path' },
    node: { type: 'string', value: 'NAME', help: 'this node\'s name (default: the name in its TLS certificate)' },
    underlay: { type: 'string', value: 'ADDR,…', help: 'the addresses tunnels reach this node at (default: the source address toward the controller; docs/config.md)' },
    'underlay-capacity': { type: 'string', value: 'RATE', help: 'what the underlay carries for guaranteed links: e.g. 10Gbit, none, or auto (default: its devices\' speed)' },
    ...tlsFlags,
    plaintext: { type: 'boolean', help: 'no TLS: only for a unix: controller address with a plaintext identity' },
    'reconcile-interval': { type: 'string', value: 'DURATION', help: 'how often the kernel is checked for drift (default 2s; a bare number is milliseconds)' },
    'run-dir': { type: 'string', value: 'DIR', help: 'where an egress node\'s gobgpd socket and log go (default /run/visp)' },
    metrics: { type: 'string', value: 'ADDR', help: 'serve Prometheus metrics on host:port (HTTPS with the node\'s certificate; scrapers need an operator or read-only operator certificate)' },
  },
  notes: 'TLS is required unless the controller address is unix: and --plaintext is given.',
});

function capacityFlag(text: string): UnderlayCapacity {
  const c = parseUnderlayCapacity(text);
  if (typeof c === 'string' && c !== 'auto' && c !== 'none') throw new InvalidSpecError(`--underlay-capacity: ${c}`, { field: 'underlay_capacity' });
  return c;
}

export async function agentCmd(args: string[]): Promise<void> {
  const { values: v } = parse(AGENT, args);
  const config = v.config !== undefined ? readAgentConfig(v.config) : undefined;
  const underlay = v.underlay?.split(',').map((s) => s.trim()).filter(Boolean);
  const opts = agentOptions(config, {
    ...(v.controller !== undefined ? { controller: v.controller } : {}),
    ...(v.node !== undefined ? { node: v.node } : {}),
    ...(underlay?.length ? { underlay } : {}),
    tls: tlsOf(v),
    ...(v.plaintext ? { plaintext: true } : {}),
    ...(v['reconcile-interval'] !== undefined ? { reconcileIntervalMs: duration('reconcile-interval', v['reconcile-interval'], 'ms') } : {}),
    ...(v['run-dir'] !== undefined ? { runDir: v['run-dir'] } : {}),
    ...(v['underlay-capacity'] !== undefined ? { underlayCapacity: capacityFlag(v['underlay-capacity']) } : {}),
    ...(v.metrics !== undefined ? { metrics: v.metrics } : {}),
  });
  // Every record names the node (before the certificate is read: the flag's or the file's name).
  const name = opts.node;
  const log = logTo(processLogger({ component: 'agent', ...(name ? { bindings: { node: name } } : {}) }));
  const h = await startAgent({ ...opts, log });
  log(`visp agent ${h.node}: dialing ${opts.controller}`);
  await untilSignal(log, () => h.close(), `agent ${h.node}`);
}
