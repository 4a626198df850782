// What the controller's and the agent's config files share: the `tls:` block
// and how flags and the file combine into TLS files, addresses, and the
// one error a mistake becomes (placed in the file when it is there, naming
// the flag when it came from one).
import type { Node, YAMLMap } from 'yaml';
import { InvalidSpecError } from '../errors.js';
import { parseWebListen } from '../web/address.js';
import type { TlsFiles } from '../trust/tls.js';
import type { ConfigFile } from './reader.js';

export type { TlsFiles };

export const TLS_KEYS = ['ca', 'cert', 'key'] as const;
type TlsKey = (typeof TLS_KEYS)[number];

/** Where the file's values came from, to place an error found after parsing. */
export interface Source {
  file: string;
  /** Throws with the file, line and column of `field` (as far as the file has it). */
  fail(field: string, reason: string): never;
}

export function sourceOf(cf: ConfigFile, top: YAMLMap<unknown, unknown> | undefined): Source {
  return { file: cf.file, fail: (field, reason) => cf.fail(cf.locate(top, field), field, reason) };
}

/** `tls: { ca, cert, key }`: paths, relative ones to the file's directory. Any may be left to the flags. */
export function tlsBlock(cf: ConfigFile, top: YAMLMap<unknown, unknown> | undefined): Partial<TlsFiles> | undefined {
  const node = cf.get(top, '', 'tls');
  if (!node) return undefined;
  const m = cf.mapping(node, 'tls', 'e.g. "{ ca: /etc/visp/ca.pem, cert: /etc/visp/controller.pem, key: /etc/visp/controller.key }"');
  cf.checkKeys(m, 'tls', TLS_KEYS);
  const out: Partial<TlsFiles> = {};
  for (const k of TLS_KEYS) {
    const v = cf.get(m, 'tls', k);
    if (v) out[k] = cf.path(v, `tls.${k}`);
  }
  return out;
}

/**
 * The TLS files from the flags over the file's, or undefined when neither
 * names any; some but not all three is an error naming what is missing.
 */
export function mergeTls(file: Partial<TlsFiles> | undefined, flags: Partial<TlsFiles>, src: Source | undefined): TlsFiles | undefined {
  const merged: Partial<TlsFiles> = { ...file };
  for (const k of TLS_KEYS) if (flags[k] !== undefined) merged[k] = flags[k];
  const missing = TLS_KEYS.filter((k) => merged[k] === undefined);
  if (missing.length === TLS_KEYS.length) return undefined;
  if (missing.length) {
    const how = missing.map((k: TlsKey) => `--tls-${k}${src ? ` or tls.${k} in ${src.file}` : ''}`).join(', ');
    const reason = `TLS needs all three files (ca, cert, key); missing ${missing.join(', ')} (${how})`;
    // Placed in the file when the file started the block; otherwise a flag mistake.
    if (src && file && TLS_KEYS.some((k) => file[k] !== undefined && flags[k] === undefined)) src.fail('tls', reason);
    throw new InvalidSpecError(reason, { field: 'tls' });
  }
  return merged as TlsFiles;
}

/** A bare path is a unix socket ("/run/visp/controller.sock" → "unix:/run/visp/controller.sock"). */
export function normalizeAddress(a: string): string {
  return a.startsWith('/') ? `unix:${a}` : a;
}

export const isUnix = (address: string): boolean => address.startsWith('unix:');

/** The keys of a `{ listen: host:port }` block (`web:`, `metrics:`). */
export const LISTEN_BLOCK_KEYS = ['listen'] as const;

/** `KEY: { listen: host:port }`: an HTTPS listener of the daemon's (the web page, the metrics). */
export function listenBlock(cf: ConfigFile, node: Node, key: string, example: string): { listen: string } {
  const m = cf.mapping(node, key, `e.g. "{ listen: ${example} }"`);
  cf.checkKeys(m, key, LISTEN_BLOCK_KEYS);
  const l = cf.get(m, key, 'listen') ?? cf.fail(m, `${key}.listen`, 'is required');
  const listen = cf.str(l, `${key}.listen`);
  try {
    parseWebListen(listen, `${key}.listen`);
  } catch (e) {
    if (e instanceof InvalidSpecError) cf.fail(l, `${key}.listen`, e.message.replace(new RegExp(`^${key}\\.listen: `), ''));
    throw e;
  }
  return { listen };
}

/**
 * An HTTPS listener's address from its flag or the file's block, checked:
 * it needs the daemon's TLS files (its clients authenticate with theirs).
 */
export function httpsListen(o: { flag?: string; file?: string; flagName: string; key: string; what: string; who: string; tls: boolean; src: Source | undefined }): string | undefined {
  const at = o.flag ?? o.file;
  if (o.flag !== undefined) parseWebListen(o.flag, o.flagName);
  if (at !== undefined && !o.tls) {
    const reason = `${at}: ${o.what} needs TLS (${o.who} authenticates with its client certificate): give --tls-ca, --tls-cert, --tls-key${o.src ? ` or tls: in ${o.src.file}` : ''}`;
    if (o.src && o.flag === undefined) o.src.fail(`${o.key}.listen`, reason);
    throw new InvalidSpecError(`${o.key}: ${reason}`, { field: o.key });
  }
  return at;
}
