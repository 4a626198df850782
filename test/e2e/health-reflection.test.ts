// Every server answers gRPC health checks and server reflection, so standard
// tools (grpc_health_probe, grpcurl) work against visp without our protos.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type ControllerHandle } from '../../src/api/controller-server.js';
import { labPki, type LabPki } from '../helpers/lab-pki.js';

describe('health checking and server reflection', () => {
  let dir: string, c: ControllerHandle, pki: LabPki, tlsAddress: string, plainAddress: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-hr-'));
    pki = await labPki(join(dir, 'pki'), []);
    c = await startController({
      listen: [{ address: `unix:${join(dir, 'c.sock')}` }, { address: `unix:${join(dir, 'plain.sock')}`, plaintextIdentity: 'spiffe://visp.test/operator-readonly/probe' }],
      tls: pki.controller, storePath: ':memory:', labPools: true, log: () => undefined,
    });
    [tlsAddress, plainAddress] = c.addresses as [string, string];
  });
  afterAll(async () => { await c?.close(); rmSync(dir, { recursive: true, force: true }); });

  // A load balancer's probe has no client certificate: health needs only TLS with the testbed's CA.
  it.each(['', 'visp.v1.Links', 'visp.v1.Operator', 'visp.v1.Agent'])('health of %j is SERVING, over TLS without a client certificate', async (name) => {
    const Client = grpc.makeGenericClientConstructor(healthService as grpc.ServiceDefinition, 'Health');
    const creds = grpc.credentials.createSsl(readFileSync(pki.controller.ca), null, null, { checkServerIdentity: () => undefined });
    const client = new Client(tlsAddress, creds, { 'grpc.ssl_target_name_override': 'visp-controller' }) as unknown as { check(r: { service: string }, cb: (e: Error | null, r?: { status: string }) => void): void; close(): void };
    const res = await new Promise<{ status: string }>((resolve, reject) => client.check({ service: name }, (e, r) => (e ? reject(e) : resolve(r!))));
    client.close();
    expect(res.status).toBe('SERVING');
  });

  it('reflection lists our services and describes them', async () => {
    const req = createRequire(import.meta.url);
    const protoRoot = join(dirname(req.resolve('@grpc/reflection/package.json')), 'build', 'proto');
    const def = protoLoader.loadSync('grpc/reflection/v1alpha/reflection.proto', { includeDirs: [protoRoot], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1alpha: { ServerReflection: new (a: string, c: grpc.ChannelCredentials) => grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, Record<string, any>> } } } } };
    const client = new pkg.grpc.reflection.v1alpha.ServerReflection(plainAddress, grpc.credentials.createInsecure());
    const ask = (r: Record<string, unknown>): Promise<Record<string, any>> => new Promise((resolve, reject) => {
      const call = client.ServerReflectionInfo();
      call.on('data', (d) => { resolve(d); call.end(); });
      call.on('error', reject);
      call.write(r);
    });
    const list = await ask({ list_services: '' });
    const names = (list.list_services_response.service as Array<{ name: string }>).map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['visp.v1.Links', 'visp.v1.Operator', 'visp.v1.Agent', 'grpc.health.v1.Health']));
    const file = await ask({ file_containing_symbol: 'visp.v1.Links' });
    expect(file.file_descriptor_response.file_descriptor_proto.length).toBeGreaterThan(0);
    client.close();
  });

  // Garbage on the wire is the client's mistake: INVALID_ARGUMENT with visp-code, never INTERNAL.
  it.each(['Links/Status', 'Links/Describe', 'Operator/ListTunnels'])('an undecodable %s request is INVALID_ARGUMENT with visp-code', async (method) => {
    const client = new grpc.Client(plainAddress, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      client.makeUnaryRequest(`/visp.v1.${method}`, (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0f]) /* field 1 with wire type 7, which does not exist */, (e) => resolve(e!));
    });
    client.close();
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.metadata.get('visp-code')).toEqual(['VISP_INVALID_SPEC']);
    expect(err.details).toMatch(/^request: cannot be decoded/);
  });
});
