// Request RSpecs read on a thread of their own. xmldom reads about 2 MB/s
// here (a 1 MiB request, the API's size limit, takes 0.5–0.8 s), and it
// cannot pause: on the controller's loop one big Allocate would hold every
// other caller that long. On this thread only the one request waits; the
// loop gets plain data back (the topology, the warnings, where each model
// field came from) and converts nothing itself. One thread, started on first
// use; idle, it does not keep the process alive.
import type { Worker } from 'node:worker_threads';
import { InvalidSpecError, UnavailableError } from '../errors.js';
import { startWorker } from '../worker.js';
import { withPlace, type RequestRspec, type RequestRspecData } from './request.js';

type Reply = { id: number; ok: true; value: RequestRspecData } | { id: number; ok: false; error: { code: string; message: string; field?: string } };

export class RspecReader {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, { resolve: (v: RequestRspec) => void; reject: (e: Error) => void }>();
  private next = 1;

  read(text: string, source: string): Promise<RequestRspec> {
    const w = this.start();
    const id = this.next++;
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) w.ref();
      this.waiting.set(id, { resolve, reject });
      w.postMessage({ id, text, source });
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(new URL(import.meta.url.endsWith('.ts') ? './reader-worker.ts' : './reader-worker.js', import.meta.url));
    w.unref();
    w.on('message', (r: Reply) => {
      const p = this.waiting.get(r.id);
      if (!p) return;
      this.waiting.delete(r.id);
      if (this.waiting.size === 0) w.unref();
      if (r.ok) p.resolve(withPlace(r.value));
      else p.reject(r.error.code === 'VISP_INVALID_SPEC' ? new InvalidSpecError(r.error.message, { field: r.error.field ?? '' }) : new Error(r.error.message));
    });
    const fail = (e: Error): void => {
      if (this.worker === w) this.worker = undefined;
      for (const p of this.waiting.values()) p.reject(new UnavailableError(`the RSpec reader's thread stopped (${e.message}); try again`));
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker = w;
    return w;
  }
}
