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
import { DEFAULT_HEALTH, type HealthOptions } from '../health/prober.js';

export const AGENT_KEYS = ['controller', 'node', 'underlay', 'underlay_capacity', 'tls', 'plaintext', 'run_dir', 'reconcile_interval', 'metrics', 'health'] as const;
/** `health:` (link health probing, docs/operations.md): each a field of HealthOptions, or `enabled`. */
export const HEALTH_KEYS = ['enabled', 'interval', 'down_after', 'answer_timeout', 'startup', 'window', 'degraded_loss'] as const;
const HEALTH_DURATIONS = { interval: 'intervalMs', down_after: 'downAfterMs', answer_timeout: 'answerTimeoutMs', startup: 'startupMs', window: 'windowMs' } as const;

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
  /** Link health probing: what the file changes of the defaults, or false (`enabled: false`). */
  health?: Partial<HealthOptions> | false;
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
  // One address, or several (a list, or comma-separated): the agent fails over between them.
  if (controller) out.controller = cf.strings(controller, 'controller').flatMap((c) => c.value.split(',')).map((a) => normalizeAddress(a.trim())).join(',');
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
  const health = cf.get(top, '', 'health');
  if (health) out.health = healthBlock(cf, health);
  return out;
}

/**
 * `health: { interval: 400ms, down_after: 1500ms, … }` or `{ enabled: false }`.
 * Checked together: a pair must get at least two probes before it may be
 * declared down, and a probe must be able to be answered before then.
 */
function healthBlock(cf: ConfigFile, node: NonNullable<ReturnType<ConfigFile['get']>>): Partial<HealthOptions> | false {
  const m = cf.mapping(node, 'health', 'e.g. "{ interval: 400ms, down_after: 1500ms }"');
  cf.checkKeys(m, 'health', HEALTH_KEYS);
  const enabled = cf.get(m, 'health', 'enabled');
  if (enabled && !cf.bool(enabled, 'health.enabled')) return false;
  const out: Partial<HealthOptions> = {};
  for (const [key, field] of Object.entries(HEALTH_DURATIONS)) {
    const v = cf.get(m, 'health', key);
    if (v) out[field] = cf.duration(v, `health.${key}`);
  }
  const loss = cf.get(m, 'health', 'degraded_loss');
  if (loss) {
    const v = cf.positiveNumber(loss, 'health.degraded_loss');
    if (v > 1) cf.fail(loss, 'health.degraded_loss', `a share of probes, more than 0 and at most 1 (0.2 is 20%), got ${v}`);
    out.degradedLoss = v;
  }
  const t = { ...DEFAULT_HEALTH, ...out };
  if (t.downAfterMs < 2 * t.intervalMs) cf.fail(cf.get(m, 'health', 'down_after') ?? cf.get(m, 'health', 'interval')!, 'health.down_after', `must be at least two intervals (${2 * t.intervalMs} ms), got ${t.downAfterMs} ms`);
  if (t.answerTimeoutMs > t.downAfterMs) cf.fail(cf.get(m, 'health', 'answer_timeout') ?? cf.get(m, 'health', 'down_after')!, 'health.answer_timeout', `must not be longer than down_after (${t.downAfterMs} ms), got ${t.answerTimeoutMs} ms`);
  if (t.windowMs < t.downAfterMs) cf.fail(cf.get(m, 'health', 'window') ?? cf.get(m, 'health', 'down_after')!, 'health.window', `must be at least down_after (${t.downAfterMs} ms), got ${t.windowMs} ms`);
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
  const controller = flags.controller !== undefined ? flags.controller.split(',').map((a) => normalizeAddress(a.trim())).join(',') : config?.controller;
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
  if (plaintext && !controller.split(',').every(isUnix)) {
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
    ...(config?.health !== undefined ? { health: config.health } : {}),
  };
}
