// Request RSpecs read on a thread of their own. xmldom reads about 2 MB/s
// here (a 1 MiB request, the API's size limit, takes 0.5–0.8 s), and it
// cannot pause: on the controller's loop one big Allocate would hold every
// other caller that long. On this thread only the one request waits; the
// loop gets plain data back (the topology, the warnings, where each model
// field came from) and converts nothing itself. One thread, started on first
// use; idle, it does not keep the process alive.
//
// The thread is shared by every caller, so the requests wait here, on the
// loop, and go to it one at a time: one whose caller has gone (cancelled, or
// its deadline passed) while it waited is never read, and no more than
// MAX_WAITING_BYTES wait at once (beyond, UNAVAILABLE: try again), so a burst
// of big requests from one caller holds the others for a bounded time and
// never for requests nobody waits for any more.
import type { Worker } from 'node:worker_threads';
import { cancelledBy, InvalidSpecError, UnavailableError } from '../errors.js';
import { startWorker } from '../worker.js';
import { withPlace, type RequestRspec, type RequestRspecData } from './request.js';

type Reply = { id: number; ok: true; value: RequestRspecData } | { id: number; ok: false; error: { code: string; message: string; field?: string } };

/** Text waiting for the thread, at most (16 requests at the API's 1 MiB limit: ~10 s of reading). */
export const MAX_WAITING_BYTES = 16 << 20;

interface Job { id: number; text: string; source: string; signal: AbortSignal | undefined; resolve: (v: RequestRspec) => void; reject: (e: Error) => void }

export class RspecReader {
  private worker: Worker | undefined;
  private readonly queue: Job[] = [];
  private waitingBytes = 0;
  /** The job on the thread now. */
  private current: Job | undefined;
  private next = 1;

  /** `signal`: the caller's; once aborted, a request still waiting is dropped (CANCELLED), not read. */
  read(text: string, source: string, signal?: AbortSignal): Promise<RequestRspec> {
    if (signal?.aborted) return Promise.reject(cancelledBy(signal));
    if (this.waitingBytes + text.length > MAX_WAITING_BYTES && this.queue.length) {
      return Promise.reject(new UnavailableError(`the RSpec reader has ${(this.waitingBytes / 2 ** 20).toFixed(1)} MiB of requests waiting; try again`));
    }
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.next++, text, source, signal, resolve, reject };
      this.queue.push(job);
      this.waitingBytes += text.length;
      signal?.addEventListener('abort', () => this.drop(job), { once: true });
      this.pump();
    });
  }

  /** A waiting job whose caller has gone: out of the queue now (one on the thread finishes; its answer is not wanted). */
  private drop(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.waitingBytes -= job.text.length;
    job.reject(cancelledBy(job.signal!));
  }

  /** The next waiting job to the thread, when it is free. */
  private pump(): void {
    if (this.current || !this.queue.length) return;
    const job = this.queue.shift()!;
    this.waitingBytes -= job.text.length;
    const w = this.start();
    this.current = job;
    w.ref();
    w.postMessage({ id: job.id, text: job.text, source: job.source });
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
      const p = this.current;
      if (!p || p.id !== r.id) return;
      this.current = undefined;
      w.unref();
      if (r.ok) p.resolve(withPlace(r.value));
      else p.reject(r.error.code === 'VISP_INVALID_SPEC' ? new InvalidSpecError(r.error.message, { field: r.error.field ?? '' }) : new Error(r.error.message));
      this.pump();
    });
    const fail = (e: Error): void => {
      if (this.worker === w) this.worker = undefined;
      const lost = [...(this.current ? [this.current] : []), ...this.queue.splice(0)];
      this.current = undefined;
      this.waitingBytes = 0;
      for (const p of lost) p.reject(new UnavailableError(`the RSpec reader's thread stopped (${e.message}); try again`));
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker = w;
    return w;
  }
}
