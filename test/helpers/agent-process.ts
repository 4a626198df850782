// An agent as a process of its own, for tests that stop one hard (SIGSTOP:
// its stream stays open and nobody answers; SIGKILL): `node --import tsx
// test/helpers/agent-process.ts '<json AgentOptions>'`. It works on the
// namespace given in the options (as the lab's in-process agents do), logs
// to stderr and prints "agent-process: started" once it dials.
import { startAgent, type AgentOptions } from '../../src/api/agent-client.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as AgentOptions;
const log = (l: string): void => { process.stderr.write(`${l}\n`); };
const h = await startAgent({ ...opts, log });
log('agent-process: started');
const stop = (): void => { h.close().then(() => process.exit(0), () => process.exit(1)); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
