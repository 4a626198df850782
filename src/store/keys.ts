// Key rules shared by every store implementation, so a key accepted by the
// embedded store is also a valid etcd key and sorts the same way in both
// (byte order equals UTF-16 order for printable ASCII).

import type { Query, Txn } from './types.js';

const MAX_KEY_LENGTH = 1024;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

function assertKey(key: string): void {
  if (key.length === 0 || key.length > MAX_KEY_LENGTH || !PRINTABLE_ASCII.test(key)) {
    throw new TypeError(`store key ${JSON.stringify(key)}: must be 1..${MAX_KEY_LENGTH} printable ASCII characters`);
  }
}

/** The smallest key greater than every key starting with `prefix` (etcd's range_end); undefined = no bound. */
export function prefixEnd(prefix: string): string | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c < 0x7e) return prefix.slice(0, i) + String.fromCharCode(c + 1);
  }
  return undefined;
}

export function assertQuery(q: Query): void {
  if ('key' in q) assertKey(q.key);
  else if (q.prefix !== '') assertKey(q.prefix);
}

/** Rejects malformed transactions before any implementation looks at them. */
export function assertTxn(txn: Txn): void {
  const seen = new Set<string>();
  const check = (key: string, expect: number, what: string): void => {
    assertKey(key);
    if (!Number.isSafeInteger(expect) || expect < 0) {
      throw new TypeError(`store ${what} ${key}: expected revision must be a non-negative integer, got ${expect}`);
    }
  };
  for (const c of txn.compares) check(c.key, c.modRevision, 'compare');
  for (const op of txn.ops) {
    check(op.key, op.expect, op.type);
    if (seen.has(op.key)) throw new TypeError(`store txn: key ${op.key} appears in more than one op`);
    seen.add(op.key);
    if (op.type === 'put' && typeof op.value !== 'string') throw new TypeError(`store put ${op.key}: value must be a string`);
  }
}

