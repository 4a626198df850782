// Collects the compares and compare-and-swap writes of one transaction.
// Several steps of a plan may touch the same key (delete an expired record,
// then put a new one at the same key); the builder folds them into one op.
// The revision named first for a key is the one the store checks: it is the
// revision the plan actually read, later steps only change what is written.

import type { Op, Txn } from './types.js';

export class TxnBuilder {
  readonly #compares = new Map<string, number>();
  readonly #ops = new Map<string, Op>();

  /** Guard: `key` must still be at `modRevision` (0 = absent) when the txn commits. */
  compare(key: string, modRevision: number): this {
    if (this.#first(key) === undefined) this.#compares.set(key, modRevision);
    return this;
  }

  put(key: string, value: string, expect: number): this {
    const first = this.#first(key) ?? expect;
    this.#compares.delete(key);
    this.#ops.set(key, { type: 'put', key, value, expect: first });
    return this;
  }

  delete(key: string, expect: number): this {
    const first = this.#first(key) ?? expect;
    this.#compares.delete(key);
    if (first === 0) {
      // Deleting a key this txn would create: write nothing, but the key must still be absent.
      this.#ops.delete(key);
      this.#compares.set(key, 0);
    } else {
      this.#ops.set(key, { type: 'delete', key, expect: first });
    }
    return this;
  }

  get opCount(): number {
    return this.#ops.size;
  }

  build(): Txn {
    return {
      compares: [...this.#compares].map(([key, modRevision]) => ({ key, modRevision })),
      ops: [...this.#ops.values()],
    };
  }

  #first(key: string): number | undefined {
    return this.#ops.get(key)?.expect ?? this.#compares.get(key);
  }
}
