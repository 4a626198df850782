// Every server answers gRPC health checks and server reflection, so standard
// tools (grpc_health_probe, grpcurl) work against visp without our protos.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type ControllerHandle } from '../../src/api/controller-server.js';

describe('health checking and server reflection', () => {
  let dir: string, c: ControllerHandle;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-hr-'));
    c = await startController({ listen: `unix:${join(dir, 'c.sock')}`, storePath: ':memory:', log: () => undefined });
  });
  afterAll(async () => { await c?.close(); rmSync(dir, { recursive: true, force: true }); });

  it.each(['', 'visp.v1.Links', 'visp.v1.Operator', 'visp.v1.Agent'])('health of %j is SERVING', async (name) => {
    const Client = grpc.makeGenericClientConstructor(healthService as grpc.ServiceDefinition, 'Health');
    const client = new Client(c.address, grpc.credentials.createInsecure()) as unknown as { check(r: { service: string }, cb: (e: Error | null, r?: { status: string }) => void): void; close(): void };
    const res = await new Promise<{ status: string }>((resolve, reject) => client.check({ service: name }, (e, r) => (e ? reject(e) : resolve(r!))));
    client.close();
    expect(res.status).toBe('SERVING');
  });

  it('reflection lists our services and describes them', async () => {
    const req = createRequire(import.meta.url);
    const protoRoot = join(dirname(req.resolve('@grpc/reflection/package.json')), 'build', 'proto');
    const def = protoLoader.loadSync('grpc/reflection/v1alpha/reflection.proto', { includeDirs: [protoRoot], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1alpha: { ServerReflection: new (a: string, c: grpc.ChannelCredentials) => grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, Record<string, any>> } } } } };
    const client = new pkg.grpc.reflection.v1alpha.ServerReflection(c.address, grpc.credentials.createInsecure());
    const ask = (r: Record<string, unknown>): Promise<Record<string, any>> => new Promise((resolve, reject) => {
      const call = client.ServerReflectionInfo();
      call.on('data', (d) => { resolve(d); call.end(); });
      call.on('error', reject);
      call.write(r);
    });
    const list = await ask({ list_services: '' });
    const names = (list.list_services_response.service as Array<{ name: string }>).map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['visp.v1.Links', 'visp.v1.Operator', 'visp.v1.Agent']));
    const file = await ask({ file_containing_symbol: 'visp.v1.Links' });
    expect(file.file_descriptor_response.file_descriptor_proto.length).toBeGreaterThan(0);
    client.close();
  });
});
