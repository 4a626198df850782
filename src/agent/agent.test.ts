// The agent core on a fake kernel (no root): what it reports when a read of
// its node's kernel fails.
import { describe, expect, it } from 'vitest';
import type { EndpointResult } from '../endpoint/node.js';
import type { Capabilities } from '../tunnel/probe.js';
import { TUNNEL_KINDS } from '../tunnel/types.js';
import { AgentCore, type AgentKernel, type Desired, type Report } from './agent.js';

/** A node kernel with nothing built and nothing to build; `reserved` answers each reservedNamespaces() read in turn. */
function fakeKernel(reserved: Array<string[] | Error>): AgentKernel {
  const caps = Object.fromEntries(TUNNEL_KINDS.map((kind) => [kind, { kind, supported: true, dataplane: 'kernel' }])) as unknown as Capabilities;
  return {
    reconcile: async (specs): Promise<EndpointResult[]> => specs.map((s) => ({ slice: s.slice, link: s.link, steps: [] })),
    restartEndpoint: async () => [],
    prune: async () => [],
    teardownSlice: async () => ({ deleted: [], untouched: [] }),
    owned: async () => [],
    reservedNamespaces: async () => {
      const next = reserved.shift();
      if (!next) throw new Error('no more answers');
      if (next instanceof Error) throw next;
      return next;
    },
    capabilities: async () => caps,
    close: () => undefined,
  };
}

/** The next report the agent emits after being given `d`. */
function reportFor(agent: AgentCore, d: Desired): Promise<Report> {
  const p = new Promise<Report>((resolve) => agent.once('report', resolve));
  agent.setDesired(d);
  return p;
}

describe('AgentCore reports the reserved namespaces', () => {
  it('a failed read reports the last list read, not an empty one (empty would free the node\'s own namespace for slices)', async () => {
    const log: string[] = [];
    const agent = new AgentCore({ kernel: fakeKernel([['vl-lab-n1', 'other'], new Error('EAGAIN'), ['vl-lab-n1']]), log: (l) => log.push(l) });
    try {
      expect((await reportFor(agent, { generation: 1, endpoints: [], teardowns: [] })).reservedNamespaces).toEqual(['vl-lab-n1', 'other']);
      const failed = await reportFor(agent, { generation: 2, endpoints: [], teardowns: [] });
      expect(failed).toMatchObject({ generation: 2, reservedNamespaces: ['vl-lab-n1', 'other'] });
      expect(log).toContain('reserved namespaces: EAGAIN; reporting the last list read');
      // A read that works again is reported as read.
      expect((await reportFor(agent, { generation: 3, endpoints: [], teardowns: [] })).reservedNamespaces).toEqual(['vl-lab-n1']);
    } finally {
      await agent.close();
    }
  });
});
