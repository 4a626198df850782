// A worker thread running one of our modules. From dist that is the
// compiled JavaScript; when the sources run (tests, through tsx) the module
// is TypeScript, and the thread registers tsx first. tsx is found from here,
// not from the working directory (an eval worker resolves from there, and a
// daemon may run anywhere).
import { Worker } from 'node:worker_threads';

export function startWorker(entry: URL, workerData?: unknown): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
