// The page's listen address: host:port or [v6]:port (a browser reaches it
// over TCP; there is no unix socket for a browser). Port 0 picks a free one.
import { isIP } from 'node:net';
import { InvalidSpecError } from '../errors.js';

export interface HostPort { host: string; port: number }

export function parseWebListen(address: string, field = 'web.listen'): HostPort {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535 || (address.startsWith('[') && isIP(m[1]!) !== 6)) {
    throw new InvalidSpecError(`${field}: ${JSON.stringify(address)} is not host:port or [v6]:port (e.g. 0.0.0.0:7444)`, { field });
  }
  return { host: m[1]!, port };
}

/** host:port as a URL's authority ("[2001:db8::1]:7444"). */
export const authority = (h: HostPort): string => (isIP(h.host) === 6 ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`);
