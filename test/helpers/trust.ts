// Callers a trust test needs that the project's own clients will not be:
// a gRPC client with any certificate (or none, or no TLS at all) that does
// not check who the server is, so that the server's verdict is what the test
// sees; a raw Agent.Connect stream that registers as whatever node it is
// told; a certificate with several URI SANs (which src/trust/pki.ts refuses
// to make); and what certificate a server presents to a new connection.
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { fileURLToPath } from 'node:url';
import type { AgentOptions } from '../../src/api/agent-client.js';
import { visp } from '../../src/api/proto.js';
import { CertificateFiles, channelCredentials, TLS_CHANNEL_OPTIONS } from '../../src/api/tls.js';
import type { Capability } from '../../src/api/gen/visp/v1/Capability.js';
import type { ConnectRequest } from '../../src/api/gen/visp/v1/ConnectRequest.js';
import type { ConnectResponse__Output } from '../../src/api/gen/visp/v1/ConnectResponse.js';
import type { CertKey } from '../../src/trust/pki.js';
import type { TlsFiles } from '../../src/trust/tls.js';
import * as x509 from '../../src/trust/x509.js';

/** What a refused call came back with. */
export interface Refusal { code: grpc.status; name: string; details: string; field?: string; visp?: string }

/** The refusal of `p`; fails the test (throws) when `p` succeeds. */
export async function refusal(p: Promise<unknown>): Promise<Refusal> {
  try {
    await p;
  } catch (e) {
    const se = e as grpc.ServiceError;
    if (typeof se.code !== 'number') throw e;
    const field = se.metadata?.get('visp-field')[0];
    const code = se.metadata?.get('visp-code')[0];
    return { code: se.code, name: grpc.status[se.code] ?? String(se.code), details: se.details, ...(field ? { field: String(field) } : {}), ...(code ? { visp: String(code) } : {}) };
  }
  throw new Error('the call succeeded; a refusal was expected');
}

export type Unary = (method: string, req: unknown) => Promise<unknown>;

/**
 * A client of Links and Operator with `creds` as given. `call('Links.Status',
 * {slice})` runs one RPC; `watch(req)` opens Operator.WatchEvents.
 */
export interface RawClient {
  call: Unary;
  watch(req: { slice?: string; node?: string }): grpc.ClientReadableStream<unknown>;
  close(): void;
}

export function rawClient(address: string, creds: grpc.ChannelCredentials, tlsOptions = true): RawClient {
  const { pkg } = visp();
  const options = tlsOptions ? { ...TLS_CHANNEL_OPTIONS } : {};
  const links = new pkg.visp.v1.Links(address, creds, options);
  const operator = new pkg.visp.v1.Operator(address, creds, options);
  const byService: Record<string, grpc.Client> = { Links: links, Operator: operator };
  const watches = new Set<grpc.ClientReadableStream<unknown>>();
  return {
    call(method, req) {
      const [svc, rpc] = method.split('.') as [string, string];
      const c = byService[svc] as unknown as Record<string, (r: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: unknown) => void) => void>;
      const fn = c[rpc];
      if (!fn) throw new Error(`no method ${method}`);
      return new Promise((resolve, reject) => {
        fn.call(c, req, new grpc.Metadata(), { deadline: Date.now() + 20_000 }, (e, r) => (e ? reject(e) : resolve(r)));
      });
    },
    watch(req) {
      const w = (operator as unknown as { watchEvents(r: unknown): grpc.ClientReadableStream<unknown> }).watchEvents(req);
      watches.add(w);
      w.on('status', () => watches.delete(w));
      return w;
    },
    // Open streams are cancelled: a controller's close waits for every call to end.
    close() { for (const w of watches) w.cancel(); links.close(); operator.close(); },
  };
}

/** TLS with this certificate and key (or none), trusting `ca` for the server, without checking the server's identity. */
export function anyCertCredentials(ca: string, cert?: { cert: string; key: string }): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(readFileSync(ca), cert ? readFileSync(cert.key) : null, cert ? readFileSync(cert.cert) : null, { checkServerIdentity: () => undefined });
}

/** Resolves with the first message of a WatchEvents stream, or rejects with the stream's error. */
export function firstEvent(s: grpc.ClientReadableStream<unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    s.once('data', resolve);
    s.once('error', reject);
  });
}

// ---- agents ------------------------------------------------------------------------------

export const VXLAN_ONLY: Capability[] = [{ encapsulation: 'ENCAPSULATION_VXLAN', supported: true, reason: '' }];

export interface RawAgent {
  /** Every message the controller sent, in order. */
  readonly messages: ConnectResponse__Output[];
  /** Resolves at the controller's first message (it sends the desired state once registered); rejects with the stream's error. */
  readonly registered: Promise<void>;
  /** Resolves with the status the stream ended with (OK when it ended without an error). */
  readonly ended: Promise<{ code: grpc.status; name: string; details: string }>;
  send(m: ConnectRequest): void;
  close(): void;
}

/**
 * An Agent.Connect stream with `files`' certificate that registers as
 * `register.node` (whatever the certificate says). With `answerPlans` it
 * answers the controller's plan queries at once with no steps, as a live
 * agent with nothing to do would (a fake node for tests of the controller
 * alone).
 */
export function agentStream(address: string, files: TlsFiles, register: { node: string; underlay: string[]; capabilities?: Capability[] }, o: { answerPlans?: boolean } = {}): RawAgent {
  const { pkg } = visp();
  const certs = new CertificateFiles(files);
  const client = new pkg.visp.v1.Agent(address, channelCredentials(certs), { ...TLS_CHANNEL_OPTIONS });
  const s = client.connect();
  const messages: ConnectResponse__Output[] = [];
  let settle: { ok(): void; fail(e: unknown): void } | undefined;
  const registered = new Promise<void>((ok, fail) => { settle = { ok, fail }; });
  registered.catch(() => undefined);
  const ended = new Promise<{ code: grpc.status; name: string; details: string }>((resolve) => {
    s.on('status', (st: grpc.StatusObject) => resolve({ code: st.code, name: grpc.status[st.code] ?? String(st.code), details: st.details }));
  });
  s.on('data', (m: ConnectResponse__Output) => {
    messages.push(m);
    settle?.ok();
    if (o.answerPlans && m.plan) s.write({ planResult: { id: m.plan.id, endpoints: m.plan.endpoints.map((e) => ({ slice: e.slice, link: e.link, steps: [], error: '' })) } });
  });
  s.on('error', (e) => settle?.fail(e));
  s.write({ register: { node: register.node, underlayAddresses: register.underlay, capabilities: register.capabilities ?? VXLAN_ONLY, version: 'test' } });
  return {
    messages, registered, ended,
    send: (m) => s.write(m),
    close() { s.cancel(); client.close(); certs.close(); },
  };
}

// ---- certificates the PKI will not make --------------------------------------------------

/**
 * A leaf certificate signed by `ca` carrying every URI in `uris` as a SAN
 * (src/trust/pki.ts makes exactly one, by design; a peer may still present
 * more). Otherwise shaped like issueCertificate's.
 */
export async function issueWithUris(ca: CertKey, uris: string[]): Promise<CertKey> {
  const crypto = globalThis.crypto;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await crypto.subtle.importKey('pkcs8', pemBody(ca.keyPem), alg, false, ['sign']);
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '01' + Buffer.from(crypto.getRandomValues(new Uint8Array(15))).toString('hex'),
    subject: 'CN=two identities',
    issuer: caCert.subject,
    notBefore: new Date(now - 300_000),
    notAfter: new Date(now + 86_400_000),
    signingAlgorithm: alg,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value }))),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64').replace(/(.{64})/g, '$1\n');
  return { certPem: cert.toString('pem') + '\n', keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8}\n-----END PRIVATE KEY-----\n` };
}

function pemBody(pem: string): ArrayBuffer {
  const b = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

// ---- what a server presents -----------------------------------------------------------------

/**
 * A new TLS connection to `address` (unix:/path or host:port), as a client
 * with `files`: the certificate the server presented (its SHA-256
 * fingerprint and serial). Only the handshake; no gRPC.
 */
export function serverCertificate(address: string, files: TlsFiles): Promise<{ fingerprint256: string; serial: string }> {
  const opts = {
    ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key),
    ALPNProtocols: ['h2'], servername: TLS_CHANNEL_OPTIONS['grpc.ssl_target_name_override'], checkServerIdentity: () => undefined,
  };
  const where = address.startsWith('unix:') ? { path: address.slice(5) } : (() => {
    const i = address.lastIndexOf(':');
    return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
  })();
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({ ...where, ...opts }, () => {
      const c: PeerCertificate = sock.getPeerCertificate();
      sock.destroy();
      if (!c?.raw) { reject(new Error('the server presented no certificate')); return; }
      const x = new X509Certificate(c.raw);
      resolve({ fingerprint256: x.fingerprint256, serial: x.serialNumber });
    });
    sock.once('error', reject);
    sock.setTimeout(10_000, () => { sock.destroy(); reject(new Error(`TLS handshake with ${address}: no answer in 10 s`)); });
  });
}

/** SHA-256 fingerprint and serial of a PEM certificate file, as serverCertificate reports them. */
export function certificateOf(file: string): { fingerprint256: string; serial: string } {
  const x = new X509Certificate(readFileSync(file));
  return { fingerprint256: x.fingerprint256, serial: x.serialNumber };
}

// ---- an agent as its own process ---------------------------------------------------------------

export interface AgentProcess {
  proc: ChildProcess;
  log: string[];
  /** Sends `signal`; for SIGTERM and SIGKILL, resolves when the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

const AGENT_SCRIPT = fileURLToPath(new URL('./agent-process.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Starts test/helpers/agent-process.ts with `opts`; resolves once it dials. */
export async function spawnAgent(opts: AgentOptions): Promise<AgentProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', AGENT_SCRIPT, JSON.stringify(opts)], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  await new Promise<void>((resolve, reject) => {
    let partial = '';
    proc.stderr!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      log.push(...lines.filter(Boolean));
      if (lines.some((l) => l.includes('agent-process: started'))) resolve();
    });
    proc.once('exit', (code, sig) => reject(new Error(`agent ${opts.node} exited (${code ?? sig}) while starting: ${[...log.slice(-5), partial].join(' | ')}`)));
  });
  return {
    proc, log,
    async kill(signal) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      if (signal !== 'SIGTERM' && signal !== 'SIGKILL') { proc.kill(signal); return; }
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill(signal);
      await gone;
    },
  };
}

// ---- a break in the wire ----------------------------------------------------------------------

/**
 * A byte-level relay from a unix socket of ours to `target` (unix:/path):
 * TLS passes through untouched; `cut()` drops every relayed connection at
 * once, as a network failure would, so that clients must connect anew.
 */
export async function socketRelay(path: string, target: string): Promise<{ address: string; cut(): number; close(): Promise<void> }> {
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((down) => {
    const up = netConnect({ path: target.replace(/^unix:/, '') });
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    const end = (): void => { pairs.delete(pair); down.destroy(); up.destroy(); };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, resolve); });
  return {
    address: `unix:${path}`,
    cut() {
      const n = pairs.size;
      for (const [a, b] of [...pairs]) { a.destroy(); b.destroy(); }
      pairs.clear();
      return n;
    },
    close: () => new Promise<void>((resolve) => { for (const [a, b] of pairs) { a.destroy(); b.destroy(); } server.close(() => resolve()); }),
  };
}
