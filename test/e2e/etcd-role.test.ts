// An etcd member's certificate (role `etcd`, signed by the testbed CA, as
// docs/deploy.md section 14 issues them) is worth nothing to visp: presented
// to the controller it may call no method and cannot register as an agent;
// the controller will not serve with one; and a visp client or agent that
// reaches a server presenting one (an etcd member's address given as a
// controller's) refuses it before sending anything.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLICY } from '../../src/api/authz.js';
import { startController, type ControllerHandle } from '../../src/api/controller-server.js';
import { CertificateFiles, channelCredentials, serverCredentials } from '../../src/api/tls.js';
import type { TlsFiles } from '../../src/trust/tls.js';
import { labPki, type LabPki } from '../helpers/lab-pki.js';
import { agentStream, anyCertCredentials, rawClient, refusal, type RawClient } from '../helpers/trust.js';

/** A request each method would accept from a caller allowed to make it. */
const REQUEST: Record<string, unknown> = {
  'Links.Allocate': { slice: 'er', topology: { nodes: [{ id: 'r1', node: 'n1' }], links: [] } },
  'Links.Renew': { slice: 'er', endTime: new Date(Date.now() + 3_600_000).toISOString() },
  'Links.PerformOperationalAction': { slice: 'er', action: 'OPERATIONAL_ACTION_STOP' },
  'Operator.GetTunnel': { sliver: 'er/p' },
  'Operator.Plan': { slice: 'er', topology: { nodes: [{ id: 'r1', node: 'n1' }], links: [] } },
  'Operator.SetEgressNode': { config: { node: 'n1', asn: 64512, routerId: '198.18.0.1' } },
};

describe('an etcd-role certificate is refused by every visp service', () => {
  let dir: string, pki: LabPki, etcd: TlsFiles, ctl: ControllerHandle, address: string;
  const clients: RawClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-etcdrole-'));
    pki = await labPki(join(dir, 'pki'), ['n1']);
    etcd = await pki.issue('etcd', 'c1');
    address = `unix:${join(dir, 'c.sock')}`;
    ctl = await startController({ listen: [{ address }], tls: pki.controller, storePath: ':memory:', labPools: true, log: () => undefined });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await ctl?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('presented to the controller, every Links and Operator method is PERMISSION_DENIED', async () => {
    const c = rawClient(address, anyCertCredentials(etcd.ca, etcd));
    clients.push(c);
    const methods = Object.keys(POLICY).filter((m) => /^(Links|Operator)\./.test(m) && m !== 'Operator.WatchEvents');
    expect(methods.length).toBeGreaterThan(15);
    for (const m of methods) {
      const r = await refusal(c.call(m, REQUEST[m] ?? { slice: 'er' }));
      expect(`${m}: ${r.name}`).toBe(`${m}: PERMISSION_DENIED`);
      expect(r.details).toContain('a etcd identity may not call this');
    }
    const w = c.watch({});
    const end = await new Promise<grpc.StatusObject>((resolve) => { w.on('status', resolve); w.on('error', () => undefined); });
    expect(grpc.status[end.code]).toBe('PERMISSION_DENIED');
  });

  it('presented to the controller as an agent (Agent.Connect), it is PERMISSION_DENIED and receives nothing', async () => {
    const s = agentStream(address, etcd, { node: 'c1', underlay: ['198.18.0.11'] });
    const end = await s.ended;
    s.close();
    expect(end.name).toBe('PERMISSION_DENIED');
    expect(s.messages).toEqual([]);
  });

  it('the controller will not serve with it', async () => {
    await expect(startController({ listen: [{ address: `unix:${join(dir, 'x.sock')}` }], tls: etcd, storePath: ':memory:', labPools: true, log: () => undefined }))
      .rejects.toThrow(/is a etcd identity; the controller needs a controller certificate/);
  });

  it('an agent (and any visp client) refuses a server presenting it: nothing is sent', async () => {
    // A gRPC server with an etcd member's certificate, as an agent would meet
    // if an etcd member's address were in its controller list.
    const files = new CertificateFiles(etcd);
    const server = new grpc.Server();
    let calls = 0;
    server.addService({ connect: { path: '/visp.v1.Agent/Connect', requestStream: true, responseStream: true, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, {
      connect: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => { calls++; call.end(); },
    });
    const fake = `unix:${join(dir, 'etcd.sock')}`;
    await new Promise<void>((resolve, reject) => server.bindAsync(fake, serverCredentials(files), (e) => (e ? reject(e) : resolve())));
    try {
      const s = agentStream(fake, pki.node('n1'), { node: 'n1', underlay: ['198.18.0.2'] });
      const end = await s.ended;
      s.close();
      expect(end.name).toBe('UNAVAILABLE');
      expect(end.details).toMatch(/the server's certificate is a etcd identity, not a controller's/);
      // channelCredentials is what the agent (src/api/agent-client.ts) and the CLI dial with.
      const c = rawClient(fake, channelCredentials(new CertificateFiles(pki.operator)));
      const r = await refusal(c.call('Operator.ListNodes', {}));
      c.close();
      expect(r.name).toBe('UNAVAILABLE');
      expect(calls).toBe(0);
    } finally {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      files.close();
    }
  });
});
