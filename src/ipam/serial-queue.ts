// Runs async jobs one at a time, in arrival order: every mutation of the
// IPAM's in-memory indices happens inside one job, so a plan never sees
// another plan's uncommitted space. (Between processes, CAS does that job.)
import { cancelledBy, throwIfCancelled } from '../errors.js';

export class SerialQueue {
  #tail: Promise<void> = Promise.resolve();

  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const prev = this.#tail;
    let done!: () => void;
    this.#tail = new Promise<void>((resolve) => (done = resolve));
    try {
      await untilSettledOrAborted(prev, signal);
      return await job();
    } finally {
      // A job that gave up waiting passes its turn on only once its predecessor is done.
      void prev.then(done);
    }
  }
}

function untilSettledOrAborted(p: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return p;
  throwIfCancelled(signal);
  return new Promise<void>((resolve, reject) => {
    // A caller that went away while waiting its turn starts nothing.
    const onAbort = (): void => reject(cancelledBy(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    void p.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
