// Named network namespaces (/run/netns/NAME, as iproute2 keeps them), and
// fds for IFLA_NET_NS_FD. Made and removed in-process, exactly as `ip netns
// add` / `ip netns del` do (native/netnsmake.c): a lab's agent host makes
// thousands, and each `ip` run would fork that large process.
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import { NotFoundError, UnavailableError } from '../errors.js';
import { nativeNetlink, type NetnsError } from './native.js';
import { netnsPath } from './socket.js';

/**
 * At most this many namespaces made or removed at once: each takes a thread
 * of its own, and the kernel serialises much of the work anyway.
 */
const MAX_AT_ONCE = 16;
let running = 0;
const waiting: Array<() => void> = [];

async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_AT_ONCE) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try { return await fn(); } finally {
    running--;
    waiting.shift()?.();
  }
}

/**
 * Make the namespace `name` exclusively (the name is created with O_EXCL, so
 * true means this call made it and nobody else can have used it), with its
 * loopback up when asked (set before the namespace is visible under its name).
 * False when the name exists already; any other failure is an UnavailableError
 * naming the namespace, and leaves no name behind.
 */
export async function netnsCreate(name: string, opts: { loopbackUp?: boolean; signal?: AbortSignal } = {}): Promise<boolean> {
  try {
    // An abort is honoured until the creation starts; a started one runs to its end (a few milliseconds).
    return await limited(() => { opts.signal?.throwIfAborted(); return nativeNetlink().netnsCreate(name, opts.loopbackUp ?? false); });
  } catch (e) {
    if (opts.signal?.aborted && e === opts.signal.reason) throw e;
    const err = e as NetnsError;
    if (err.step === 'create' && err.code === 'EEXIST') return false;
    throw new UnavailableError(`netns add ${name}: ${err.message}`, { cause: e });
  }
}

export const netnsExists = (name: string): boolean => existsSync(netnsPath(name));

export function netnsList(): string[] {
  try { return readdirSync('/run/netns'); } catch { return []; }
}

/** Create a namespace with its loopback up (experiments expect a working lo); one that exists already is left as it is. */
export async function netnsAdd(name: string): Promise<void> {
  if (netnsExists(name)) return;
  await netnsCreate(name, { loopbackUp: true });
}

/** Remove a namespace's name (`ip netns del`): the namespace itself goes when nothing else holds it. Absent already is fine. */
export async function netnsDel(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  try {
    await limited(() => nativeNetlink().netnsDelete(name));
  } catch (e) {
    if (netnsExists(name)) throw new UnavailableError(`netns del ${name}: ${(e as Error).message}`, { cause: e });
  }
}

/** Run `fn` with an open fd for the namespace, closed afterwards. */
export async function withNetnsFd<T>(name: string, fn: (fd: number) => Promise<T>): Promise<T> {
  let fd: number;
  try { fd = openSync(netnsPath(name), 'r'); } catch (e) {
    throw new NotFoundError(`network namespace "${name}" does not exist`, { cause: e });
  }
  try { return await fn(fd); } finally { closeSync(fd); }
}
