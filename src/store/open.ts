// One way to open the store a daemon or a command is pointed at: an
// `etcd://` URL (etcd-url.ts) is the shared etcd store, anything else the
// path of an embedded SQLite file (`:memory:`: the in-process store, for
// tests). The etcd client authenticates with the TLS files given, normally
// the controller's own certificate.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TlsFiles } from '../trust/tls.js';
import { openEtcdStore } from './etcd-store.js';
import { isEtcdUrl } from './etcd-url.js';
import { createMemoryStore } from './memory-store.js';
import { openSqliteStore } from './sqlite-store.js';
import { openSqliteStoreThreaded } from './sqlite-thread.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  /** Client certificate for etcd (mutual TLS). */
  readonly tls?: TlsFiles;
  /** SQLite on a thread of its own (the controller: its loop must not wait on a commit). */
  readonly threaded?: boolean;
}

export async function openStore(target: string, o: OpenStoreOptions = {}): Promise<Store> {
  if (isEtcdUrl(target)) return openEtcdStore(target, o.tls ? { tls: o.tls } : {});
  if (target === ':memory:') return createMemoryStore();
  mkdirSync(dirname(target), { recursive: true });
  return o.threaded ? openSqliteStoreThreaded(target) : openSqliteStore(target);
}
