// An agent sent what it cannot read (a newer controller's tunnel kind) keeps
// running: it keeps building the last desired state it could read, answers a plan it
// cannot read with the reason, and takes the next readable state. The
// controller here is a stand-in speaking the Agent service on a unix socket,
// so it can send what visp's own controller never would.
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/api/agent-client.js';
import type { ConnectRequest__Output } from '../../src/api/gen/visp/v1/ConnectRequest.js';
import type { ConnectResponse } from '../../src/api/gen/visp/v1/ConnectResponse.js';
import { visp } from '../../src/api/proto.js';
import { ipIn, kernelSkipReason, makeNetns } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';

describe.skipIf(kernelSkipReason)('e2e: an agent sent what it cannot read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'visp-unreadable-'));
  const socket = `unix:${join(dir, `ctl-${randomBytes(3).toString('hex')}.sock`)}`;
  const got: ConnectRequest__Output[] = [];
  const logs: string[] = [];
  let call: grpc.ServerDuplexStream<ConnectRequest__Output, ConnectResponse> | undefined;
  let server: grpc.Server;
  let agent: { close(): Promise<void> } | undefined;
  const geneve = { slice: 's', link: 'l', group: 4096, kind: 'geneve', local: '198.18.77.1', remotes: ['198.18.77.2'], key: 7, netns: 'visp-s:r1', ifname: 'eth1' };
  const reports = (): number[] => got.flatMap((m) => (m.report ? [m.report.generation] : []));

  beforeAll(async () => {
    const ns = makeNetns('unread');
    ipIn(ns, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul1');
    ipIn(ns, 'addr', 'add', '198.18.77.1/24', 'dev', 'ul0');
    ipIn(ns, 'link', 'set', 'ul0', 'up');
    server = new grpc.Server();
    server.addService(visp().pkg.visp.v1.Agent.service, {
      Connect: (c: grpc.ServerDuplexStream<ConnectRequest__Output, ConnectResponse>) => {
        call = c;
        c.on('data', (m: ConnectRequest__Output) => {
          got.push(m);
          if (!m.register) return;
          c.write({ desired: { generation: 4, endpoints: [] } });
          c.write({ desired: { generation: 5, endpoints: [geneve] } });
          c.write({ plan: { id: 9, endpoints: [geneve] } });
        });
      },
    });
    await new Promise<void>((resolve, reject) => server.bindAsync(socket, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
    agent = await startAgent({ controller: socket, node: 'n1', netns: ns, underlay: ['198.18.77.1'], runDir: dir, reconcileIntervalMs: 200, log: (l) => logs.push(l) });
  });

  afterAll(async () => {
    await agent?.close();
    server?.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the plan with why, keeps its last state, and takes the next one it can read', async () => {
    await waitFor('the plan answered', () => got.some((m) => m.planResult));
    expect(got.find((m) => m.planResult)!.planResult).toEqual({
      id: 9, endpoints: [{ slice: 's', link: 'l', steps: [], error: expect.stringMatching(/^plan\.endpoints\[0\]\.kind: "geneve" is not one of /) }],
    });
    await waitFor('the unreadable state logged', () => logs.some((l) => /cannot read; keeping the last one: desired\.endpoints\[0\]\.kind: "geneve" is not one of /.test(l)));
    const seen = reports().length;
    await waitFor('two reports after it', () => reports().length >= seen + 2);
    expect(reports().slice(-2)).toEqual([4, 4]);
    expect(reports()).not.toContain(5);
    call!.write({ desired: { generation: 6, endpoints: [] } });
    await waitFor('a report of the readable state', () => reports().includes(6));
  });
});
