// `visp controller --config FILE`: the controller's YAML config, and how it
// and the flags become the server's options (flags override the file).
// Every key, its default and an example: docs/config.md.
import { isMap, isSeq, type Node, type YAMLMap } from 'yaml';
import type { ControllerServerOptions, Listener } from '../api/controller-server.js';
import { DEFAULT_LIMITS, LIMIT_NAMES, type Limits } from '../api/limits.js';
import { InvalidSpecError } from '../errors.js';
import type { IpamConfigSpec } from '../ipam/types.js';
import { parseIdentityUri } from '../trust/identity.js';
import { httpsListen, isUnix, LISTEN_BLOCK_KEYS, listenBlock, mergeTls, normalizeAddress, sourceOf, tlsBlock, type Source, type TlsFiles } from './common.js';
import { IPAM_KEYS, ipamSettings, readPoolsFile } from './pools.js';
import { ConfigFile } from './reader.js';
import { isEtcdUrl, parseEtcdUrl } from '../store/etcd-url.js';

export const DEFAULT_LISTEN = 'unix:/run/visp/controller.sock';
export const DEFAULT_STORE = '/var/lib/visp/store.sqlite';

/** The top-level keys of a controller config (the pools file's keys among them). */
export const CONTROLLER_KEYS = ['listen', 'tls', 'store', 'pools_file', ...IPAM_KEYS, 'limits', 'audit_log', 'sweep_interval', 'web', 'metrics'] as const;
export const LISTENER_KEYS = ['address', 'plaintext_identity'] as const;
export const RATE_KEYS = ['per_second', 'burst'] as const;
export const WEB_KEYS = LISTEN_BLOCK_KEYS;

/** One limit's key under `limits:` ("links_per_slice"), from the one list of names. */
const limitKey = (k: keyof Limits): string => LIMIT_NAMES[k].replace(/^limits\./, '');
export const LIMIT_KEYS = (Object.keys(LIMIT_NAMES) as Array<keyof Limits>).map(limitKey);

/** A parsed controller config: only what the file says. */
export interface ControllerConfig {
  /** Each with the field it came from ("listen", "listen[1]"), for errors found later. */
  listen?: Array<Listener & { field: string }>;
  tls?: Partial<TlsFiles>;
  store?: string;
  ipam?: IpamConfigSpec;
  limits?: Partial<Limits>;
  auditLog?: string;
  sweepIntervalMs?: number;
  /** The read-only web page's address (`web: { listen }`). */
  web?: { listen: string };
  /** The Prometheus endpoint's address (`metrics: { listen }`). */
  metrics?: { listen: string };
  source: Source;
}

export function readControllerConfig(file: string): ControllerConfig {
  return parseControllerConfig(ConfigFile.read(file));
}

export function parseControllerConfig(cf: ConfigFile): ControllerConfig {
  const top = cf.top('listen, tls, store, pools, limits, …; docs/config.md');
  if (top) cf.checkKeys(top, '', CONTROLLER_KEYS);
  const out: ControllerConfig = { source: sourceOf(cf, top) };

  const listen = cf.get(top, '', 'listen');
  if (listen) out.listen = listeners(cf, listen);
  const tls = tlsBlock(cf, top);
  if (tls) out.tls = tls;
  const store = cf.get(top, '', 'store');
  if (store) {
    // An etcd:// URL is checked here, so a wrong one is placed at its line; anything else is a file.
    const text = cf.str(store, 'store');
    if (isEtcdUrl(text)) {
      try { parseEtcdUrl(text); } catch (e) { cf.fail(store, 'store', (e as Error).message.replace(/^store: /, '')); }
      out.store = text;
    } else out.store = cf.path(store, 'store');
  }

  const poolsFile = cf.get(top, '', 'pools_file');
  const ipam = top ? ipamSettings(cf, top) : undefined;
  if (poolsFile && ipam) {
    cf.fail(cf.keyNode(top, 'pools_file'), 'pools_file', `give the pools either inline (${IPAM_KEYS.join(', ')}) or in pools_file, not both`);
  }
  if (poolsFile) out.ipam = readPoolsFile(cf.path(poolsFile, 'pools_file'));
  else if (ipam) out.ipam = ipam;

  const limits = cf.get(top, '', 'limits');
  if (limits) out.limits = parseLimits(cf, limits);
  const audit = cf.get(top, '', 'audit_log');
  if (audit) out.auditLog = cf.path(audit, 'audit_log');
  const sweep = cf.get(top, '', 'sweep_interval');
  if (sweep) out.sweepIntervalMs = cf.duration(sweep, 'sweep_interval');
  const web = cf.get(top, '', 'web');
  if (web) out.web = listenBlock(cf, web, 'web', '0.0.0.0:7444');
  const metrics = cf.get(top, '', 'metrics');
  if (metrics) out.metrics = listenBlock(cf, metrics, 'metrics', '0.0.0.0:9464');
  return out;
}

/** `listen:` one address, or a list of addresses and { address, plaintext_identity } mappings. */
function listeners(cf: ConfigFile, node: Node): Array<Listener & { field: string }> {
  const items = isSeq(node) ? cf.items(node) : [node];
  if (!items.length) cf.fail(node, 'listen', 'expected at least one address');
  return items.map((item, i) => {
    const path = isSeq(node) ? `listen[${i}]` : 'listen';
    if (!isMap(item)) return { address: normalizeAddress(cf.str(item, path)), field: path };
    const m = cf.mapping(item, path);
    cf.checkKeys(m, path, LISTENER_KEYS);
    const addrNode = cf.get(m, path, 'address') ?? cf.fail(m, `${path}.address`, 'is required');
    const address = normalizeAddress(cf.str(addrNode, `${path}.address`));
    const idNode = cf.get(m, path, 'plaintext_identity');
    if (!idNode) return { address, field: path };
    const id = cf.str(idNode, `${path}.plaintext_identity`);
    if (!isUnix(address)) cf.fail(idNode, `${path}.plaintext_identity`, `plaintext is only for a unix: socket (its file permissions guard it), not ${address}`);
    checkIdentity(id, (reason) => cf.fail(idNode, `${path}.plaintext_identity`, reason));
    return { address, plaintextIdentity: id, field: path };
  });
}

function checkIdentity(uri: string, fail: (reason: string) => never): void {
  try {
    parseIdentityUri(uri, 'x');
  } catch (e) {
    if (e instanceof InvalidSpecError) fail(e.message.replace(/^x: /, ''));
    throw e;
  }
}

function parseLimits(cf: ConfigFile, node: Node): Partial<Limits> {
  const m: YAMLMap<unknown, unknown> = cf.mapping(node, 'limits', 'e.g. "{ links_per_slice: 2000, rate_per_am: { per_second: 50, burst: 200 } }"');
  cf.checkKeys(m, 'limits', LIMIT_KEYS);
  const out: Partial<Limits> = {};
  for (const k of Object.keys(LIMIT_NAMES) as Array<keyof Limits>) {
    const path = LIMIT_NAMES[k];
    const v = cf.get(m, 'limits', limitKey(k));
    if (!v) continue;
    if (k === 'ratePerAm') {
      const rm = cf.mapping(v, path, 'e.g. "{ per_second: 50, burst: 200 }"');
      cf.checkKeys(rm, path, RATE_KEYS);
      const rate = cf.get(rm, path, 'per_second');
      const burst = cf.get(rm, path, 'burst');
      out.ratePerAm = {
        perSecond: rate ? cf.positiveNumber(rate, `${path}.per_second`) : DEFAULT_LIMITS.ratePerAm.perSecond,
        burst: burst ? cf.positiveInt(burst, `${path}.burst`) : DEFAULT_LIMITS.ratePerAm.burst,
      };
    } else {
      out[k] = cf.positiveInt(v, path);
    }
  }
  return out;
}

/** What the controller's flags say (daemons.ts); undefined: not given. */
export interface ControllerFlags {
  listen?: string[];
  store?: string;
  pools?: string;
  tls?: Partial<TlsFiles>;
  plaintextIdentity?: string;
  auditLog?: string;
  lab?: boolean;
  /** --web ADDR */
  web?: string;
  /** --metrics ADDR */
  metrics?: string;
}

/**
 * The server's options from the config (if any) and the flags, flags first.
 * TLS is required on every listener but a unix socket with a plaintext
 * identity. Pools: --pools, else the config's; with neither, lab mode
 * (--lab) hands out the lab pools, and outside it the server starts only if
 * its store already holds a pools configuration.
 */
export function controllerOptions(config: ControllerConfig | undefined, flags: ControllerFlags): ControllerServerOptions {
  const src = config?.source;
  const fromFlags = flags.listen?.length ? flags.listen.map((a) => ({ address: normalizeAddress(a) })) : undefined;
  const fromFile = fromFlags ? undefined : config?.listen;
  let listen: Listener[] = fromFlags ?? fromFile?.map(({ field: _, ...l }) => l) ?? [{ address: DEFAULT_LISTEN }];

  if (flags.plaintextIdentity !== undefined) {
    const id = flags.plaintextIdentity;
    checkIdentity(id, (reason) => { throw new InvalidSpecError(`--plaintext-identity: ${reason}`, { field: 'plaintext_identity' }); });
    if (!listen.some((l) => isUnix(l.address))) {
      throw new InvalidSpecError(`--plaintext-identity: only for a unix: listen address (its file permissions guard it); listening on ${listen.map((l) => l.address).join(', ')}`, { field: 'plaintext_identity' });
    }
    listen = listen.map((l) => (isUnix(l.address) ? { address: l.address, plaintextIdentity: id } : l));
  }

  const tls = mergeTls(config?.tls, flags.tls ?? {}, src);
  if (!tls) {
    listen.forEach((l, i) => {
      if (l.plaintextIdentity !== undefined) return;
      const reason = `${l.address} needs TLS: give --tls-ca, --tls-cert, --tls-key${src ? ` or tls: in ${src.file}` : ''}` +
        `${isUnix(l.address) ? ' (or, for this unix socket only, --plaintext-identity URI: every caller on it acts as that identity)' : ''}`;
      const field = fromFile?.[i]?.field;
      if (src && field) src.fail(field, reason);
      throw new InvalidSpecError(`listen: ${reason}`, { field: 'listen' });
    });
  }

  const web = httpsListen({ flag: flags.web, file: config?.web?.listen, flagName: '--web', key: 'web', what: 'the web page', who: 'a browser', tls: !!tls, src });
  const metrics = httpsListen({ flag: flags.metrics, file: config?.metrics?.listen, flagName: '--metrics', key: 'metrics', what: 'the metrics endpoint', who: 'a scraper', tls: !!tls, src });

  const ipam = flags.pools !== undefined ? readPoolsFile(flags.pools) : config?.ipam;
  return {
    listen,
    ...(tls ? { tls } : {}),
    storePath: flags.store ?? config?.store ?? DEFAULT_STORE,
    ...(ipam ? { ipam } : {}),
    ...(flags.lab ? { labPools: true } : {}),
    ...(config?.limits ? { limits: config.limits } : {}),
    ...(flags.auditLog ?? config?.auditLog ? { auditLog: (flags.auditLog ?? config?.auditLog)! } : {}),
    ...(config?.sweepIntervalMs ? { sweepIntervalMs: config.sweepIntervalMs } : {}),
    ...(web !== undefined ? { web: { listen: web } } : {}),
    ...(metrics !== undefined ? { metrics: { listen: metrics } } : {}),
  };
}
