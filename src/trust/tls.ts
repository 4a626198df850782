// Certificate checks that do not depend on the transport: the CA bundle a
// service trusts, and whether a peer's certificate chains to it, is in its
// validity window and carries one visp identity. The gRPC edge (src/api/tls.ts)
// lets every TLS handshake with a client certificate complete and checks the
// certificate here, per call, so that a bad one becomes UNAUTHENTICATED with
// a reason instead of an anonymous TLS alert.
import { X509Certificate } from 'node:crypto';
import { InvalidSpecError, UnauthenticatedError } from '../errors.js';
import { identityFromSubjectAltName, type Identity } from './identity.js';

/** The three files a TLS service or client is configured with. */
export interface TlsFiles {
  /** PEM bundle of the CA certificate(s) trusted for peers. */
  ca: string;
  /** This side's certificate (PEM). */
  cert: string;
  /** This side's private key (PEM). */
  key: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM bundle; an empty or unparsable bundle is an error naming the file. */
export function parseCaBundle(pem: string, file: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (!blocks.length) throw new InvalidSpecError(`${file}: no PEM certificate in it`, { field: 'tls.ca' });
  return blocks.map((b, i) => {
    try {
      const c = new X509Certificate(b);
      if (!c.ca) throw new Error('not a CA certificate (basicConstraints CA:false)');
      return c;
    } catch (e) {
      throw new InvalidSpecError(`${file}: certificate ${i + 1}: ${(e as Error).message}`, { field: 'tls.ca', cause: e });
    }
  });
}

/**
 * Checks a peer's leaf certificate (DER) against the trusted CAs: issued and
 * signed by one of them, within its validity window, not a CA itself, and
 * carrying exactly one visp identity of the expected trust domain. Only direct
 * issuance by a configured CA is accepted (no intermediates): a testbed CA
 * signs every visp certificate itself.
 */
export function verifyPeer(raw: Buffer, cas: readonly X509Certificate[], trustDomain: string, now = Date.now()): Identity {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(raw);
  } catch {
    throw new UnauthenticatedError('certificate: cannot be parsed');
  }
  const issuer = cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (!issuer) throw new UnauthenticatedError('certificate: not issued by a CA this controller trusts');
  if (Date.parse(cert.validFrom) > now) throw new UnauthenticatedError(`certificate: not valid before ${new Date(cert.validFrom).toISOString()}`);
  if (Date.parse(cert.validTo) < now) throw new UnauthenticatedError(`certificate: expired at ${new Date(cert.validTo).toISOString()}`);
  if (cert.ca) throw new UnauthenticatedError('certificate: is a CA certificate, not an identity');
  let id: Identity;
  try {
    id = identityFromSubjectAltName(cert.subjectAltName);
  } catch (e) {
    throw new UnauthenticatedError((e as Error).message);
  }
  if (id.trustDomain !== trustDomain) throw new UnauthenticatedError(`certificate: trust domain ${id.trustDomain} is not this controller's (${trustDomain})`);
  return id;
}

/** The identity in this side's own certificate (its trust domain is the one a service uses). */
export function ownIdentity(certPem: string, file: string): Identity {
  try {
    return identityFromSubjectAltName(new X509Certificate(certPem).subjectAltName);
  } catch (e) {
    throw new InvalidSpecError(`${file}: ${(e as Error).message}`, { field: 'tls.cert', cause: e });
  }
}
