// Where an etcd store is: `etcd://EP[,EP…][?prefix=NAME]`, each EP a
// `host:port`, `[v6]:port` or `unix:/absolute/path` (a member's socket on
// this host). NAME is the key prefix the store keeps everything under
// (default `visp`), so several visp installations, or a copy being made, can
// share one etcd cluster. A parse error names the part that is wrong.
import { InvalidSpecError } from '../errors.js';

export interface EtcdLocation {
  /** gRPC targets, one per member: `host:port` or `unix:/path`. */
  readonly endpoints: readonly string[];
  /** Key prefix (printable ASCII, no `/` at either end). */
  readonly prefix: string;
}

export const isEtcdUrl = (s: string): boolean => s.startsWith('etcd://');

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;
const PREFIX = /^[\x21-\x2e\x30-\x7e]+(?:\/[\x21-\x2e\x30-\x7e]+)*$/;

export function parseEtcdUrl(url: string, field = 'store'): EtcdLocation {
  if (!isEtcdUrl(url)) throw new InvalidSpecError(`${field}: ${JSON.stringify(url)} is not an etcd:// URL`, { field });
  const rest = url.slice('etcd://'.length);
  const q = rest.indexOf('?');
  const list = q < 0 ? rest : rest.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : rest.slice(q + 1));
  for (const k of query.keys()) if (k !== 'prefix') throw new InvalidSpecError(`${field}: unknown parameter ${JSON.stringify(k)} (only prefix)`, { field });
  const endpoints = list.split(',').map((ep) => ep.trim());
  for (const ep of endpoints) {
    const ok = ep.startsWith('unix:') ? ep.length > 'unix:/'.length && ep[5] === '/' : HOST_PORT.test(ep);
    if (!ok) throw new InvalidSpecError(`${field}: endpoint ${JSON.stringify(ep)}: expected host:port, [v6]:port or unix:/path`, { field });
    if (!ep.startsWith('unix:')) {
      const port = Number(ep.slice(ep.lastIndexOf(':') + 1));
      if (port < 1 || port > 65535) throw new InvalidSpecError(`${field}: endpoint ${ep}: port out of range`, { field });
    }
  }
  const prefix = query.get('prefix') ?? 'visp';
  if (!PREFIX.test(prefix)) throw new InvalidSpecError(`${field}: prefix ${JSON.stringify(prefix)}: printable ASCII without a leading or trailing /`, { field });
  return { endpoints, prefix };
}

export function formatEtcdUrl(loc: EtcdLocation): string {
  return `etcd://${loc.endpoints.join(',')}${loc.prefix === 'visp' ? '' : `?prefix=${loc.prefix}`}`;
}
