// Another AM's view during a flood: calls Status on one slice every
// --every-ms over one long-lived mTLS channel and times each call, in a
// process of its own, so that what the flooding client does in the bench's
// process (building and encoding large requests) never delays the clock that
// measures the controller. Calls start on a fixed schedule (open loop).
// Prints "ready" once the channel is up and a few
// calls are done; on "stop" (or end of input) on stdin prints one JSON line:
// every call's start (epoch ms) and duration (ms), and the errors by code.
//   node dist/bench/lib/status-prober.js --address A --ca F --cert F --key F --slice S [--every-ms 25]
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { connect } from '../../src/api/client.js';

const { values: v } = parseArgs({
  options: { address: { type: 'string' }, ca: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, slice: { type: 'string' }, 'every-ms': { type: 'string' } },
  strict: true,
});
if (!v.address || !v.ca || !v.cert || !v.key || !v.slice) {
  process.stderr.write('usage: status-prober --address A --ca F --cert F --key F --slice S [--every-ms 25]\n');
  process.exit(2);
}
const everyMs = Number(v['every-ms'] ?? 25);
const slice = v.slice;
const api = connect(v.address, { ca: v.ca, cert: v.cert, key: v.key });

let stopping = false;
createInterface({ input: process.stdin }).on('line', (l) => { if (l.trim() === 'stop') stopping = true; }).on('close', () => { stopping = true; });

const samples: Array<[number, number]> = [];
const errors: Record<string, number> = {};
async function once(): Promise<void> {
  const at = performance.timeOrigin + performance.now();
  const t = performance.now();
  try {
    await api.links.status({ slice });
    samples.push([Math.round(at), performance.now() - t]);
  } catch (e) {
    const code = grpcStatus[(e as ServiceError).code] ?? 'UNKNOWN';
    errors[code] = (errors[code] ?? 0) + 1;
  }
}

for (let i = 0; i < 10; i++) { await once(); await sleep(everyMs); }
samples.length = 0;
process.stdout.write('ready\n');
// Open loop: a call starts every `everyMs` whether or not the previous one
// has been answered, so a stalled controller shows up in every call it
// delayed, not in one (no coordinated omission).
const inFlight = new Set<Promise<void>>();
let next = performance.now();
while (!stopping) {
  const p = once().finally(() => inFlight.delete(p));
  inFlight.add(p);
  next += everyMs;
  await sleep(Math.max(0, next - performance.now()));
}
await Promise.all(inFlight);
process.stdout.write(`${JSON.stringify({ samples, errors })}\n`);
api.close();
process.exit(0);
