// A stand-in for an agent process (test only): starts the node's engine,
// gives it tunnels, prints "ready <engine pid>", then idles until killed.
// Usage: node --import tsx agent-stub.ts NETNS RUNDIR 'SPECS_JSON'
import { EngineProcess } from '../../src/dataplane/engine-process.js';
import type { EngineTunnelSpec } from '../../src/dataplane/engine-client.js';

const [netns, runDir, specs] = process.argv.slice(2) as [string, string, string];
const e = new EngineProcess({ netns, runDir });
await e.start();
for (const s of JSON.parse(specs) as EngineTunnelSpec[]) await e.client.ensureTunnel(s);
console.log(`ready ${e.pid}`);
setInterval(() => undefined, 1 << 30);
