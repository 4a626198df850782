// The thread sqlite-thread.ts starts: one SQLite store, its calls answered in order.
import { parentPort } from 'node:worker_threads';
import { openSqliteStore } from './sqlite-store.js';
import type { Reply, Request } from './sqlite-thread.js';
import type { Store } from './types.js';

const port = parentPort!;
let store: Store | undefined;
let queue = Promise.resolve();

async function answer(r: Request): Promise<unknown> {
  if (r.op === 'open') { store = await openSqliteStore(r.file, r.opts); return undefined; }
  if (!store) throw new Error('store: not open');
  if (r.op === 'read') return store.read(r.queries);
  if (r.op === 'commit') return store.commit(r.txn);
  await store.close();
  return undefined;
}

port.on('message', (r: Request) => {
  queue = queue.then(async () => {
    let reply: Reply;
    try {
      reply = { id: r.id, ok: true, value: await answer(r) };
    } catch (e) {
      const err = e as Error & { code?: unknown; field?: unknown };
      reply = {
        id: r.id, ok: false,
        error: { name: err.name ?? 'Error', message: err.message ?? String(e), ...(typeof err.code === 'string' ? { code: err.code } : {}), ...(typeof err.field === 'string' ? { field: err.field } : {}) },
      };
    }
    port.postMessage(reply);
  });
});
