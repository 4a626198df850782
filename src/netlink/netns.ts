// Named network namespaces (/run/netns/NAME, as iproute2 keeps them), and
// fds for IFLA_NET_NS_FD. Creating a namespace needs unshare+bind-mount,
// which we leave to iproute2 (`ip netns add`): it is a one-time, per-node or
// per-experiment step, not on the hot path.
import { execFile } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { NotFoundError, UnavailableError } from '../errors.js';
import { netnsPath } from './socket.js';

const run = promisify(execFile);

export const netnsExists = (name: string): boolean => existsSync(netnsPath(name));

export function netnsList(): string[] {
  try { return readdirSync('/run/netns'); } catch { return []; }
}

/** Create a namespace with its loopback up (experiments expect a working lo). */
export async function netnsAdd(name: string): Promise<void> {
  if (netnsExists(name)) return;
  try {
    await run('ip', ['netns', 'add', name]);
  } catch (e) {
    if (!netnsExists(name)) throw new UnavailableError(`netnsAdd ${name}: ${(e as Error).message.trim()}`, { cause: e });
  }
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']).catch(() => undefined);
}

export async function netnsDel(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  await run('ip', ['netns', 'del', name]).catch((e: Error) => {
    if (netnsExists(name)) throw new UnavailableError(`netnsDel ${name}: ${e.message.trim()}`, { cause: e });
  });
}

/** Run `fn` with an open fd for the namespace, closed afterwards. */
export async function withNetnsFd<T>(name: string, fn: (fd: number) => Promise<T>): Promise<T> {
  let fd: number;
  try { fd = openSync(netnsPath(name), 'r'); } catch (e) {
    throw new NotFoundError(`network namespace "${name}" does not exist`, { cause: e });
  }
  try { return await fn(fd); } finally { closeSync(fd); }
}
