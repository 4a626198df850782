// A unix socket file left behind by a controller that was killed (SIGKILL,
// power loss) would make every restart fail with EADDRINUSE, and a systemd
// Restart= would loop on it. Before binding we take such a file over, but only
// when it is a socket and nothing answers on it: a live controller's socket is
// never removed, and a regular file of the same name is an error.
import { lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { IncompatibleStateError } from '../errors.js';

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (v: boolean): void => { s.destroy(); resolve(v); };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}

/** Make `unix:path` bindable: absent, or a stale socket we remove; else a clear error. */
export async function takeOverStaleSocket(address: string): Promise<'absent' | 'removed'> {
  if (!address.startsWith('unix:')) return 'absent';
  const path = address.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
  let st;
  try { st = lstatSync(path); } catch { return 'absent'; }
  if (!st.isSocket()) throw new IncompatibleStateError(`listen: ${path} exists and is not a socket; remove it or choose another path`, { field: 'listen' });
  if (await answers(path)) throw new IncompatibleStateError(`listen: another process is serving on ${path} (a controller already running?)`, { field: 'listen' });
  unlinkSync(path);
  return 'removed';
}
