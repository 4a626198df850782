// TLS credentials for our gRPC servers and clients, from files that may be
// replaced while we run. grpc-js takes certificates from a CertificateProvider
// and builds a new secure context for each new connection from the latest
// update, so a rotated certificate is used by new connections while existing
// streams keep the one they were established with (no restart, no drop).
// We implement the provider ourselves (rather than grpc-js's file watcher)
// because the server also needs the parsed CA bundle for its per-call check,
// and because a half-written file must never replace a good certificate.
import * as grpc from '@grpc/grpc-js';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { PeerCertificate } from 'node:tls';
import { InvalidSpecError, UnauthenticatedError, UnavailableError } from '../errors.js';
import type { Identity } from '../trust/identity.js';
import { ownIdentity, parseCaBundle, verifyPeer, type TlsFiles } from '../trust/tls.js';

type Provider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdListener = grpc.experimental.IdentityCertificateUpdateListener;

/** How often the files are looked at for a change (size or mtime). */
export const DEFAULT_REFRESH_MS = 5000;

interface Loaded { ca: Buffer; cert: Buffer; key: Buffer; cas: X509Certificate[]; identity: Identity; stamp: string }

function read(files: TlsFiles): Loaded {
  const get = (f: string, field: string): Buffer => {
    try { return readFileSync(f); } catch (e) {
      throw new InvalidSpecError(`${field}: cannot read ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { field, cause: e });
    }
  };
  const ca = get(files.ca, 'tls.ca');
  const cert = get(files.cert, 'tls.cert');
  const key = get(files.key, 'tls.key');
  const cas = parseCaBundle(ca.toString(), files.ca);
  const identity = ownIdentity(cert.toString(), files.cert);
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
    if (!x.checkPrivateKey(createPrivateKey(key))) throw new Error(`the key in ${files.key} does not belong to this certificate`);
  } catch (e) {
    throw new InvalidSpecError(`${files.cert}: ${(e as Error).message}`, { field: 'tls.cert', cause: e });
  }
  return { ca, cert, key, cas, identity, stamp: stampOf(files) };
}

function stampOf(files: TlsFiles): string {
  return [files.ca, files.cert, files.key].map((f) => { try { const s = statSync(f); return `${s.size}:${s.mtimeMs}:${s.ino}`; } catch { return '-'; } }).join('|');
}

/** A TLS configuration that follows its files. */
export class CertificateFiles implements Provider {
  private current: Loaded;
  private readonly caListeners = new Set<CaListener>();
  private readonly idListeners = new Set<IdListener>();
  private timer: NodeJS.Timeout | undefined;
  private readonly verified = new Map<string, { identity: Identity; until: number; loaded: Loaded }>();

  constructor(readonly files: TlsFiles, private readonly opts: { refreshMs?: number; log?: (line: string) => void } = {}) {
    this.current = read(files);
  }

  get identity(): Identity { return this.current.identity; }
  get trustDomain(): string { return this.current.identity.trustDomain; }
  get cas(): readonly X509Certificate[] { return this.current.cas; }

  /** Re-read the files if they changed; a broken new set is logged and the old one kept. */
  refresh(): void {
    if (stampOf(this.files) === this.current.stamp) return;
    let next: Loaded;
    try {
      next = read(this.files);
    } catch (e) {
      this.opts.log?.(`tls: keeping the current certificate: ${(e as Error).message}`);
      return;
    }
    if (next.identity.trustDomain !== this.current.identity.trustDomain || next.identity.role !== this.current.identity.role || next.identity.name !== this.current.identity.name) {
      this.opts.log?.(`tls: keeping the current certificate: the new one in ${this.files.cert} is for another identity`);
      return;
    }
    this.current = next;
    this.opts.log?.(`tls: loaded new certificate files (${this.files.cert}, valid until ${new X509Certificate(next.cert).validTo})`);
    for (const l of this.caListeners) l({ caCertificate: next.ca });
    for (const l of this.idListeners) l({ certificate: next.cert, privateKey: next.key });
  }

  // The first update is delivered after the caller returns: grpc-js's server
  // registers its own watcher only after adding ours, and would miss a
  // synchronous one (it then drops every connection as "unloaded credentials").
  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    queueMicrotask(() => { if (this.caListeners.has(l)) l({ caCertificate: this.current.ca }); });
    this.watch();
  }
  removeCaCertificateListener(l: CaListener): void { this.caListeners.delete(l); this.unwatch(); }
  addIdentityCertificateListener(l: IdListener): void {
    this.idListeners.add(l);
    queueMicrotask(() => { if (this.idListeners.has(l)) l({ certificate: this.current.cert, privateKey: this.current.key }); });
    this.watch();
  }
  removeIdentityCertificateListener(l: IdListener): void { this.idListeners.delete(l); this.unwatch(); }

  private watch(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.refresh(), this.opts.refreshMs ?? DEFAULT_REFRESH_MS);
    this.timer.unref();
  }

  private unwatch(): void {
    if (this.caListeners.size || this.idListeners.size || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * verifyPeer, remembered per certificate (by fingerprint) until the CA
   * bundle changes or the certificate expires: a long-lived channel's calls
   * would otherwise each parse and check the same certificate again (it was
   * the largest single cost of an mTLS call).
   */
  verifyCached(fingerprint: string, raw: Buffer): Identity {
    const now = Date.now();
    const hit = this.verified.get(fingerprint);
    if (hit && hit.loaded === this.current && hit.until > now) return hit.identity;
    const identity = verifyPeer(raw, this.current.cas, this.trustDomain, now);
    if (this.verified.size >= 10_000) this.verified.clear();
    this.verified.set(fingerprint, { identity, until: Date.parse(new X509Certificate(raw).validTo), loaded: this.current });
    return identity;
  }

  close(): void {
    this.caListeners.clear();
    this.idListeners.clear();
    this.unwatch();
  }
}

/**
 * Server credentials: every handshake asks for a client certificate but does
 * not fail on a bad or missing one; `peerIdentity` then decides per call, so
 * the caller gets UNAUTHENTICATED with the reason.
 */
export function serverCredentials(certs: CertificateFiles): grpc.ServerCredentials {
  // grpc-js's factory takes (identity provider, CA provider) in this order in
  // 1.14 whatever its parameter names say; ours serves both, so order is moot.
  return grpc.experimental.createCertificateProviderServerCredentials(certs, certs, false);
}

/** The verified identity of the caller of `call`, or UNAUTHENTICATED saying why not. */
/** What grpc-js's calls return from getAuthContext() (its type is not exported). */
interface AuthContext { transportSecurityType?: string; sslPeerCertificate?: PeerCertificate }

export function peerIdentity(call: { getAuthContext(): AuthContext | null }, certs: CertificateFiles): Identity {
  const ctx = call.getAuthContext();
  const peer = ctx?.sslPeerCertificate;
  if (!ctx || ctx.transportSecurityType !== 'ssl') throw new UnauthenticatedError('this service needs TLS with a client certificate');
  if (!peer?.raw) throw new UnauthenticatedError('no client certificate: every visp service needs one (visp certs issue …)');
  return certs.verifyCached(peer.fingerprint256, peer.raw);
}

/**
 * Client credentials: our certificate, the CA bundle, and a check that the
 * server is a visp controller of our trust domain (its identity, not its host
 * name, is what we verify: a controller is reached by IP, name or unix socket).
 */
export function channelCredentials(certs: CertificateFiles): grpc.ChannelCredentials {
  return grpc.experimental.createCertificateProviderChannelCredentials(certs, certs, {
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      try {
        const id = verifyServer(cert, certs);
        return id.role === 'controller' ? undefined : new Error(`the server's certificate is a ${id.role} identity, not a controller's`);
      } catch (e) {
        return e as Error;
      }
    },
  });
}

function verifyServer(cert: PeerCertificate, certs: CertificateFiles): Identity {
  if (!cert.raw) throw new Error('the server presented no certificate');
  return verifyPeer(cert.raw, certs.cas, certs.trustDomain);
}

/**
 * Channel options for a TLS client: a fixed SNI name, since we verify the
 * controller by its identity, not by host name (and an IP address is not a
 * valid SNI name).
 */
export const TLS_CHANNEL_OPTIONS = { 'grpc.ssl_target_name_override': 'visp-controller' } as const;

export interface TlsContext { ca: Buffer; cert: Buffer; key: Buffer }

/**
 * A certificate, key and CA bundle as CertificateFiles hands them to gRPC,
 * now and whenever the files are replaced, for an HTTPS server of ours (the
 * web page, the metrics): its new connections then get the new certificate,
 * like the API's.
 */
export async function followTls(certs: CertificateFiles): Promise<{ current(): TlsContext; onChange(fn: (c: TlsContext) => void): void; close(): void }> {
  const now: Partial<TlsContext> = {};
  let listener: ((c: TlsContext) => void) | undefined;
  const changed = (): void => { if (listener && now.ca && now.cert && now.key) listener(now as TlsContext); };
  const onCa: grpc.experimental.CaCertificateUpdateListener = (u) => { if (u) { now.ca = u.caCertificate; changed(); } };
  const onId: grpc.experimental.IdentityCertificateUpdateListener = (u) => { if (u) { now.cert = u.certificate; now.key = u.privateKey; changed(); } };
  certs.addCaCertificateListener(onCa);
  certs.addIdentityCertificateListener(onId);
  // CertificateFiles delivers the first update a microtask after a listener is added.
  await new Promise((r) => setImmediate(r));
  if (!now.ca || !now.cert || !now.key) throw new UnavailableError(`${certs.files.cert}: the TLS files did not load`);
  return {
    current: () => now as TlsContext,
    onChange: (fn) => { listener = fn; },
    close: () => { certs.removeCaCertificateListener(onCa); certs.removeIdentityCertificateListener(onId); },
  };
}
