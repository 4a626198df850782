// A minimal aggregate manager: what a testbed's AM does with visp's Links
// API, in TypeScript with src/api/client.ts. docs/deploy.md runs it as the
// testbed's first slice.
//
//   npx tsx examples/am-client.ts allocate TOPOLOGY.yaml [--hours N]   Allocate, Provision, wait for READY
//   npx tsx examples/am-client.ts status SLICE
//   npx tsx examples/am-client.ts delete SLICE
//
// Where the controller is and who we are: VISP_CONTROLLER (host:port) and
// VISP_TLS_CA, VISP_TLS_CERT, VISP_TLS_KEY (the CA bundle, and an `am`
// certificate and key from visp certs), as for the visp command. The
// topology is visp's YAML format (src/topology/yaml.ts, examples/*.yaml);
// a real AM would translate its own request format (an RSpec) instead.
import { connect } from '../src/api/client.js';
import type { Manifest__Output } from '../src/api/gen/visp/v1/Manifest.js';
import { readTopology, toApiTopology } from '../src/lab/index.js';

const say = (s: string): void => { process.stdout.write(`${s}\n`); };
const state = (s: string): string => s.replace(/^(OPERATIONAL|ALLOCATION)_STATE_/, '').toLowerCase();

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (see the header of examples/am-client.ts)`);
  return v;
}

function show(m: Manifest__Output): void {
  say(`slice ${m.slice}: ${state(m.allocationState)}, ${state(m.operationalState)}, ends ${m.endTime}`);
  for (const s of m.slivers) {
    say(`  ${s.link} (${s.encapsulation.replace('ENCAPSULATION_', '').toLowerCase()}, key ${s.key}): ${state(s.operationalState)}${s.error ? ` — ${s.error}` : ''}`);
    for (const e of s.endpoints) say(`    ${e.node}@${e.physicalNode}: ${e.netns} ${e.ifname} ${e.addresses.join(' ')}`);
  }
}

async function main([verb, arg, ...rest]: string[]): Promise<void> {
  const api = connect(env('VISP_CONTROLLER'), { ca: env('VISP_TLS_CA'), cert: env('VISP_TLS_CERT'), key: env('VISP_TLS_KEY') });
  try {
    if (verb === 'allocate' && arg) {
      const { name: slice, topology } = readTopology(arg);
      const hours = rest[0] === '--hours' ? Number(rest[1]) : 24;
      const endTime = new Date(Date.now() + hours * 3600_000).toISOString();
      await api.links.allocate({ slice, topology: toApiTopology(topology), endTime });
      await api.links.provision({ slice });
      // Provision returns at once; the agents report as they build. Poll Status.
      const deadline = Date.now() + 120_000;
      for (;;) {
        const m = (await api.links.status({ slice })).manifest!;
        if (m.operationalState === 'OPERATIONAL_STATE_READY' || m.operationalState === 'OPERATIONAL_STATE_FAILED' || Date.now() > deadline) {
          show(m);
          if (m.operationalState !== 'OPERATIONAL_STATE_READY') process.exitCode = 1;
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    } else if (verb === 'status' && arg) {
      show((await api.links.status({ slice: arg })).manifest!);
    } else if (verb === 'delete' && arg) {
      show((await api.links.delete({ slice: arg })).manifest!);
    } else {
      throw new Error('usage: am-client.ts allocate TOPOLOGY.yaml [--hours N] | status SLICE | delete SLICE');
    }
  } finally {
    api.close();
  }
}

main(process.argv.slice(2)).catch((e: Error & { details?: string }) => {
  process.stderr.write(`am-client: ${e.details ?? e.message}\n`);
  process.exit(1);
});
