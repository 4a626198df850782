// `visp agent --config FILE`: the agent's YAML config, and how it and the
// flags become the agent's options (flags override the file). Every key, its
// default and an example: docs/config.md.
import { isIP } from 'node:net';
import { isScalar, isSeq } from 'yaml';
import type { AgentOptions } from '../api/agent-client.js';
import { InvalidSpecError } from '../errors.js';
import { checkIdentityName } from '../trust/identity.js';
import { httpsListen, isUnix, listenBlock, mergeTls, normalizeAddress, sourceOf, tlsBlock, type Source, type TlsFiles } from './common.js';
import { ConfigFile } from './reader.js';
import { parseRate } from '../shape/units.js';
import type { UnderlayCapacity } from '../agent/underlay-capacity.js';

export const AGENT_KEYS = ['controller', 'node', 'underlay', 'underlay_capacity', 'tls', 'plaintext', 'run_dir', 'reconcile_interval', 'metrics'] as const;

/** A parsed agent config: only what the file says. */
export interface AgentConfig {
  controller?: string;
  node?: string;
  underlay?: string[];
  underlayCapacity?: UnderlayCapacity;
  tls?: Partial<TlsFiles>;
  plaintext?: boolean;
  runDir?: string;
  reconcileIntervalMs?: number;
  /** The Prometheus endpoint's address (`metrics: { listen }`). */
  metrics?: { listen: string };
  source: Source;
}

/** "10Gbit", "auto" or "none" (docs/config.md), or why not. */
export function parseUnderlayCapacity(text: string): UnderlayCapacity | string {
  if (text === 'auto' || text === 'none') return text;
  const r = parseRate(text);
  return typeof r === 'string' ? `${r}; or auto (the devices' speed) or none (no guarantees)` : r;
}

export function readAgentConfig(file: string): AgentConfig {
  return parseAgentConfig(ConfigFile.read(file));
}

export function parseAgentConfig(cf: ConfigFile): AgentConfig {
  const top = cf.top('controller, node, tls, …; docs/config.md');
  if (top) cf.checkKeys(top, '', AGENT_KEYS);
  const out: AgentConfig = { source: sourceOf(cf, top) };
  const controller = cf.get(top, '', 'controller');
  if (controller) out.controller = normalizeAddress(cf.str(controller, 'controller'));
  const node = cf.get(top, '', 'node');
  if (node) {
    // Integers are names too (`node: 7`), as in topology files.
    const name = isScalar(node) && typeof node.value === 'number' ? String(cf.int(node, 'node')) : cf.str(node, 'node');
    nodeName(name, (reason) => cf.fail(node, 'node', reason));
    out.node = name;
  }
  const underlay = cf.get(top, '', 'underlay');
  if (underlay) {
    out.underlay = cf.strings(underlay, 'underlay').map(({ value, at }, i) => {
      if (!isIP(value)) cf.fail(at, isSeq(underlay) ? `underlay[${i}]` : 'underlay', `${JSON.stringify(value)} is not an IP address`);
      return value;
    });
  }
  const cap = cf.get(top, '', 'underlay_capacity');
  if (cap) {
    const c = parseUnderlayCapacity(cf.str(cap, 'underlay_capacity'));
    if (typeof c === 'string' && c !== 'auto' && c !== 'none') cf.fail(cap, 'underlay_capacity', c);
    out.underlayCapacity = c;
  }
  const tls = tlsBlock(cf, top);
  if (tls) out.tls = tls;
  const plaintext = cf.get(top, '', 'plaintext');
  if (plaintext) {
    out.plaintext = cf.bool(plaintext, 'plaintext');
    if (out.plaintext && out.controller && !isUnix(out.controller)) {
      cf.fail(plaintext, 'plaintext', `only for a unix: controller address, not ${out.controller}`);
    }
  }
  const runDir = cf.get(top, '', 'run_dir');
  if (runDir) out.runDir = cf.path(runDir, 'run_dir');
  const every = cf.get(top, '', 'reconcile_interval');
  if (every) out.reconcileIntervalMs = cf.duration(every, 'reconcile_interval');
  const metrics = cf.get(top, '', 'metrics');
  if (metrics) out.metrics = listenBlock(cf, metrics, 'metrics', '0.0.0.0:9465');
  return out;
}

function nodeName(name: string, fail: (reason: string) => never): void {
  try {
    checkIdentityName(name, 'x');
  } catch (e) {
    if (e instanceof InvalidSpecError) fail(e.message.replace(/^x: /, ''));
    throw e;
  }
}

/** What the agent's flags say (daemons.ts); undefined: not given. */
export interface AgentFlags {
  controller?: string;
  node?: string;
  underlay?: string[];
  tls?: Partial<TlsFiles>;
  plaintext?: boolean;
  reconcileIntervalMs?: number;
  runDir?: string;
  underlayCapacity?: UnderlayCapacity;
  /** --metrics ADDR */
  metrics?: string;
}

/**
 * The agent's options from the config (if any) and the flags, flags first.
 * TLS is required unless the controller is a unix: socket and plaintext is
 * asked for (--plaintext, or plaintext: true). The node's name may be left
 * to the TLS certificate, which names it anyway.
 */
export function agentOptions(config: AgentConfig | undefined, flags: AgentFlags): AgentOptions {
  const src = config?.source;
  const orFile = (key: string): string => (src ? ` or ${key}: in ${src.file}` : '');
  const controller = flags.controller !== undefined ? normalizeAddress(flags.controller) : config?.controller;
  if (!controller) throw new InvalidSpecError(`the controller's address is required: --controller ADDR${orFile('controller')}`, { field: 'controller' });
  const node = flags.node ?? config?.node;
  if (flags.node !== undefined) nodeName(flags.node, (reason) => { throw new InvalidSpecError(`--node: ${reason}`, { field: 'node' }); });
  for (const a of flags.underlay ?? []) if (!isIP(a)) throw new InvalidSpecError(`--underlay: ${JSON.stringify(a)} is not an IP address`, { field: 'underlay' });
  const underlay = flags.underlay?.length ? flags.underlay : config?.underlay;

  const tls = mergeTls(config?.tls, flags.tls ?? {}, src);
  const plaintext = flags.plaintext ?? config?.plaintext ?? false;
  if (plaintext && tls) {
    const why = `plaintext and TLS files exclude each other (TLS from ${flags.tls && Object.keys(flags.tls).length ? 'the --tls-* flags' : src?.file})`;
    if (flags.plaintext === undefined && src) src.fail('plaintext', why);
    throw new InvalidSpecError(`--plaintext: ${why}`, { field: 'plaintext' });
  }
  if (plaintext && !isUnix(controller)) {
    if (flags.plaintext === undefined && src) src.fail('plaintext', `only for a unix: controller address, not ${controller}`);
    throw new InvalidSpecError(`--plaintext: only for a unix: controller address, not ${controller}`, { field: 'plaintext' });
  }
  if (!node && !tls) throw new InvalidSpecError(`this node's name is required: --node NAME${orFile('node')} (with TLS, the name in the node's certificate)`, { field: 'node' });
  if (!tls && !plaintext) {
    throw new InvalidSpecError(`TLS is required to reach the controller at ${controller}: give --tls-ca, --tls-cert, --tls-key${orFile('tls')}` +
      `${isUnix(controller) ? ' (or, for a unix: socket only, --plaintext)' : ''}`, { field: 'tls' });
  }
  const runDir = flags.runDir ?? config?.runDir;
  const capacity = flags.underlayCapacity ?? config?.underlayCapacity;
  const every = flags.reconcileIntervalMs ?? config?.reconcileIntervalMs;
  const metrics = httpsListen({ flag: flags.metrics, file: config?.metrics?.listen, flagName: '--metrics', key: 'metrics', what: 'the metrics endpoint', who: 'a scraper', tls: !!tls, src });
  return {
    controller,
    ...(node ? { node } : {}),
    ...(underlay?.length ? { underlay } : {}),
    ...(tls ? { tls } : {}),
    ...(every !== undefined ? { reconcileIntervalMs: every } : {}),
    ...(runDir !== undefined ? { runDir } : {}),
    ...(capacity !== undefined ? { underlayCapacity: capacity } : {}),
    ...(metrics !== undefined ? { metrics: { listen: metrics } } : {}),
  };
}
