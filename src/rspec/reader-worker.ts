// The thread that reads request RSpecs for the controller (reader-thread.ts).
import { parentPort } from 'node:worker_threads';
import { VispError } from '../errors.js';
import { readRequestRspec } from './request.js';

parentPort!.on('message', (m: { id: number; text: string; source: string }) => {
  try {
    parentPort!.postMessage({ id: m.id, ok: true, value: readRequestRspec(m.text, { source: m.source }) });
  } catch (e) {
    const v = e instanceof VispError ? { code: e.code, message: e.message, field: e.field } : { code: '', message: (e as Error).message };
    parentPort!.postMessage({ id: m.id, ok: false, error: v });
  }
});
