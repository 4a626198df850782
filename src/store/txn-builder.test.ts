import { describe, expect, it } from 'vitest';
import { TxnBuilder } from './txn-builder.js';

describe('TxnBuilder', () => {
  it.each([
    {
      name: 'plain put and compare',
      steps: (b: TxnBuilder) => b.compare('c', 4).put('k', 'v', 0),
      compares: [{ key: 'c', modRevision: 4 }],
      ops: [{ type: 'put', key: 'k', value: 'v', expect: 0 }],
    },
    {
      name: 'delete then put at the same key keeps the revision that was read',
      steps: (b: TxnBuilder) => b.delete('k', 7).put('k', 'new', 0),
      compares: [],
      ops: [{ type: 'put', key: 'k', value: 'new', expect: 7 }],
    },
    {
      name: 'two puts: the last value, the first revision',
      steps: (b: TxnBuilder) => b.put('k', 'a', 3).put('k', 'b', 9),
      compares: [],
      ops: [{ type: 'put', key: 'k', value: 'b', expect: 3 }],
    },
    {
      name: 'create then delete writes nothing but still requires absence',
      steps: (b: TxnBuilder) => b.put('k', 'a', 0).delete('k', 0),
      compares: [{ key: 'k', modRevision: 0 }],
      ops: [],
    },
    {
      name: 'a compare after a write to the same key is folded into the write',
      steps: (b: TxnBuilder) => b.put('k', 'a', 2).compare('k', 2),
      compares: [],
      ops: [{ type: 'put', key: 'k', value: 'a', expect: 2 }],
    },
    {
      name: 'a write after a compare takes the compared revision',
      steps: (b: TxnBuilder) => b.compare('k', 5).delete('k', 5),
      compares: [],
      ops: [{ type: 'delete', key: 'k', expect: 5 }],
    },
  ])('$name', ({ steps, compares, ops }) => {
    const b = new TxnBuilder();
    steps(b);
    expect(b.build()).toEqual({ compares, ops });
  });
});
