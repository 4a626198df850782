// The testbed's certificates: a CA, leaf certificates that each carry one
// visp identity, and the CSR flow (a node makes its key and a request, the
// CA signs it; the key never leaves the node). Certificates and requests are
// built with @peculiar/x509 over WebCrypto; reading them back uses Node's own
// X509Certificate. Keys are ECDSA P-256 (PKCS#8 PEM), signatures SHA-256.
//
// The CA says which trust domain it serves with its own URI SAN,
// spiffe://<trust-domain> (the SPIFFE trust domain id, no path), so a CA file
// alone is enough to know which identities it may issue: issueCertificate and
// signCsr refuse an identity of any other trust domain.
import { createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { chmodSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import * as x509 from './x509.js';
import { InvalidSpecError } from '../errors.js';
import { checkTrustDomain, checkIdentityName, identityFromSubjectAltName, identityUri, isRole, parseIdentityUri, ROLES, type Identity, type Role } from './identity.js';

export interface CertKey {
  certPem: string;
  /** PKCS#8 PEM; '' when the key is held elsewhere (a certificate signed from a CSR). */
  keyPem: string;
}

export interface CertificateInfo {
  /** The visp identity (exactly one spiffe://<td>/<role>/<name> URI SAN), when there is one. */
  identity?: Identity;
  /** Why there is no identity (a CA, a foreign certificate, two URI SANs…). */
  identityError?: string;
  uris: string[];
  dns: string[];
  ips: string[];
  subject: string;
  issuer: string;
  /** Hexadecimal, upper case (as Node prints it). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  /** SHA-256 of the DER, colon-separated upper-case hex (as openssl and Node print it). */
  fingerprint256: string;
}

const crypto = webcrypto as unknown as Crypto;

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
/** Certificates start a little in the past so that a peer whose clock is behind accepts them at once. */
const BACKDATE_MS = 5 * 60_000;
const DAY_MS = 86_400_000;
const MAX_DAYS = 3650;
const CA_DAYS = 3650;
const LEAF_DAYS = 365;
const SAN_OID = '2.5.29.17';
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A self-signed CA for `trustDomain` (basicConstraints CA:true, pathlen 0; keyUsage keyCertSign, cRLSign). */
export async function createCa(o: { trustDomain: string; days?: number; commonName?: string; now?: Date }): Promise<CertKey> {
  const td = checkTrustDomain(o.trustDomain, 'trustDomain');
  const days = checkDays(o.days ?? CA_DAYS);
  const commonName = o.commonName ?? `visp CA ${td}`;
  if (!commonName.trim() || commonName.length > 64) throw new InvalidSpecError(`commonName: ${JSON.stringify(commonName)} must be 1..64 characters`, { field: 'commonName' });
  const notBefore = checkDate(o.now ?? new Date(Date.now() - BACKDATE_MS), 'now');
  const keys = await crypto.subtle.generateKey(EC, true, ['sign', 'verify']) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [commonName] }],
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * DAY_MS),
    signingAlgorithm: SIGN,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${td}` }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await privatePem(keys.privateKey) };
}

/**
 * A leaf certificate for `identity`, signed by `ca`: exactly one URI SAN
 * (identityUri(identity)), optional DNS and IP SANs, subject CN role/name,
 * keyUsage digitalSignature, extendedKeyUsage clientAuth + serverAuth,
 * basicConstraints CA:false. Valid from `notBefore` (default: five minutes
 * ago) for `days` (default 365). With `publicKeyPem` (the CSR flow) no key is
 * made and keyPem is ''.
 */
export async function issueCertificate(o: { ca: CertKey; identity: Identity; dns?: string[]; ips?: string[]; days?: number;
  notBefore?: Date; publicKeyPem?: string }): Promise<CertKey> {
  const ca = await loadCa(o.ca);
  const id = checkIdentity(o.identity, 'identity');
  if (id.trustDomain !== ca.trustDomain) {
    throw new InvalidSpecError(`identity: trust domain ${JSON.stringify(id.trustDomain)} is not the CA's (${JSON.stringify(ca.trustDomain)})`, { field: 'identity' });
  }
  const dns = checkDns(o.dns ?? [], 'dns');
  const ips = checkIps(o.ips ?? [], 'ips');
  const days = checkDays(o.days ?? LEAF_DAYS);
  const notBefore = checkDate(o.notBefore ?? new Date(Date.now() - BACKDATE_MS), 'notBefore');
  let publicKey: x509.PublicKeyType;
  let keyPem = '';
  if (o.publicKeyPem !== undefined) {
    publicKey = spkiOf(checkP256(parsePublicKey(o.publicKeyPem), 'publicKeyPem'));
  } else {
    const keys = await crypto.subtle.generateKey(EC, true, ['sign', 'verify']) as CryptoKeyPair;
    publicKey = keys.publicKey;
    keyPem = await privatePem(keys.privateKey);
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [`${id.role}/${id.name}`] }],
    issuer: ca.cert.subjectName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * DAY_MS),
    signingAlgorithm: SIGN,
    publicKey,
    signingKey: ca.signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'url', value: identityUri(id) },
        ...dns.map((value) => ({ type: 'dns' as const, value })),
        ...ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem };
}

/** A new key and a request for `identity` (subject CN role/name, one URI SAN). The key stays with the caller. */
export async function createCsr(o: { identity: Identity }): Promise<{ csrPem: string; keyPem: string }> {
  const id = checkIdentity(o.identity, 'identity');
  const keys = await crypto.subtle.generateKey(EC, true, ['sign', 'verify']) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [`${id.role}/${id.name}`] }],
    keys,
    signingAlgorithm: SIGN,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identityUri(id) }])],
  });
  return { csrPem: csr.toString('pem') + '\n', keyPem: await privatePem(keys.privateKey) };
}

/**
 * Signs a CSR: its signature must verify, it must carry exactly one visp
 * identity URI, of the CA's trust domain and (with `allowRoles`) of an
 * allowed role. The certificate carries only that identity plus the DNS and
 * IP SANs the signer passes here; any other names the request asks for are
 * not copied (the signer decides what a certificate says, not the requester).
 */
export async function signCsr(o: { ca: CertKey; csrPem: string; days?: number; allowRoles?: Role[]; dns?: string[]; ips?: string[] }): Promise<{ certPem: string; identity: Identity }> {
  const ca = await loadCa(o.ca);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(o.csrPem);
  } catch (e) {
    throw new InvalidSpecError(`csr: not a PEM certificate request (${(e as Error).message})`, { field: 'csr', cause: e });
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch (e) {
    throw new InvalidSpecError(`csr: signature cannot be checked (${(e as Error).message})`, { field: 'csr', cause: e });
  }
  if (!ok) throw new InvalidSpecError('csr: signature does not verify (the request was altered or not signed by its key)', { field: 'csr' });
  const uris = csrUris(csr);
  if (uris.length !== 1) throw new InvalidSpecError(`csr: has ${uris.length} URI SANs; a visp request has exactly one (spiffe://<trust-domain>/<role>/<name>)`, { field: 'csr' });
  const id = parseIdentityUri(uris[0]!, 'csr');
  if (id.trustDomain !== ca.trustDomain) {
    throw new InvalidSpecError(`csr: trust domain ${JSON.stringify(id.trustDomain)} is not the CA's (${JSON.stringify(ca.trustDomain)})`, { field: 'csr' });
  }
  if (o.allowRoles) {
    for (const r of o.allowRoles) if (!isRole(r)) throw new InvalidSpecError(`allowRoles: ${JSON.stringify(r)} is not one of ${ROLES.join(', ')}`, { field: 'allowRoles' });
    if (!o.allowRoles.includes(id.role)) {
      throw new InvalidSpecError(`csr: role ${JSON.stringify(id.role)} is not allowed here (allowed: ${o.allowRoles.join(', ') || 'none'})`, { field: 'csr' });
    }
  }
  const publicKeyPem = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString();
  const { certPem } = await issueCertificate({
    ca: o.ca, identity: id, publicKeyPem,
    ...(o.days !== undefined ? { days: o.days } : {}), ...(o.dns ? { dns: o.dns } : {}), ...(o.ips ? { ips: o.ips } : {}),
  });
  return { certPem, identity: id };
}

/** What a certificate says, read with Node's X509Certificate. Throws InvalidSpecError (field certificate) if it is not one. */
export function inspectCertificate(pem: string): CertificateInfo {
  const c = parseCert(pem, 'certificate');
  const sans = splitSan(c.subjectAltName);
  const info: CertificateInfo = {
    uris: sans.filter(([k]) => k === 'URI').map(([, v]) => v),
    dns: sans.filter(([k]) => k === 'DNS').map(([, v]) => v),
    ips: sans.filter(([k]) => k === 'IP Address').map(([, v]) => v),
    subject: c.subject.split('\n').join(', '),
    issuer: c.issuer.split('\n').join(', '),
    serial: c.serialNumber,
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    isCa: c.ca,
    fingerprint256: c.fingerprint256,
  };
  try {
    info.identity = identityFromSubjectAltName(c.subjectAltName);
  } catch (e) {
    info.identityError = (e as Error).message;
  }
  return info;
}

/** The trust domain a visp CA certificate serves (its spiffe://<td> URI SAN). */
export function trustDomainOfCa(caPem: string): string {
  return caTrustDomain(parseCert(caPem, 'ca'));
}

/**
 * Writes prefix.pem (0644) and, when there is a key, prefix.key (0600).
 * Each file is written to a temporary name with its final mode and renamed,
 * so a key is never readable by others, not even for a moment.
 */
export function writeCertKey(prefix: string, ck: CertKey): void {
  if (ck.keyPem) writeAtomic(`${prefix}.key`, ck.keyPem, 0o600);
  writeAtomic(`${prefix}.pem`, ck.certPem, 0o644);
}

/** Writes `path` by way of a temporary file created with `mode` (umask does not loosen it: chmod after). */
export function writeAtomic(path: string, data: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, data, { mode, flag: 'wx' });
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Whether `keyPem` is the private key of `certPem`'s public key. */
export function keyMatchesCert(certPem: string, keyPem: string): boolean {
  try {
    const pub = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    return pub.equals(new NodeX509(certPem).publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    return false;
  }
}

// ---- internals ----

interface LoadedCa {
  cert: x509.X509Certificate;
  publicKey: x509.PublicKey;
  signingKey: CryptoKey;
  trustDomain: string;
}

async function loadCa(ca: CertKey): Promise<LoadedCa> {
  const node = parseCert(ca?.certPem ?? '', 'ca');
  if (!node.ca) throw new InvalidSpecError('ca: certificate is not a CA (basicConstraints CA:false)', { field: 'ca' });
  const trustDomain = caTrustDomain(node);
  if (!ca.keyPem) throw new InvalidSpecError('ca: no private key (the CA key is needed to sign)', { field: 'ca' });
  let key: KeyObject;
  try {
    key = createPrivateKey(ca.keyPem);
  } catch (e) {
    throw new InvalidSpecError(`ca: private key cannot be read (${(e as Error).message})`, { field: 'ca', cause: e });
  }
  checkP256(key, 'ca');
  if (!keyMatchesCert(ca.certPem, ca.keyPem)) throw new InvalidSpecError('ca: the private key does not belong to the CA certificate', { field: 'ca' });
  const signingKey = await crypto.subtle.importKey('pkcs8', key.export({ type: 'pkcs8', format: 'der' }), EC, false, ['sign']);
  const cert = new x509.X509Certificate(ca.certPem);
  return { cert, publicKey: cert.publicKey, signingKey, trustDomain };
}

function caTrustDomain(c: NodeX509): string {
  const uris = splitSan(c.subjectAltName).filter(([k]) => k === 'URI').map(([, v]) => v);
  const m = uris.length === 1 ? /^spiffe:\/\/([^/]+)\/?$/.exec(uris[0]!) : null;
  if (!m) throw new InvalidSpecError(`ca: not a visp CA (it needs exactly one URI SAN spiffe://<trust-domain>; it has ${uris.length ? uris.join(', ') : 'none'})`, { field: 'ca' });
  return checkTrustDomain(m[1]!, 'ca');
}

function parseCert(pem: string, field: string): NodeX509 {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new InvalidSpecError(`${field}: not a PEM certificate (no -----BEGIN CERTIFICATE-----)`, { field });
  }
  try {
    return new NodeX509(pem);
  } catch (e) {
    throw new InvalidSpecError(`${field}: certificate cannot be parsed (${(e as Error).message})`, { field, cause: e });
  }
}

/**
 * Node's subjectAltName string as [type, value] pairs. Node quotes a value
 * that holds a comma or quote as a JSON string, so split respecting quotes.
 */
function splitSan(san: string | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const m of (san ?? '').matchAll(/([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,\s*|$)/g)) {
    const raw = m[2]!;
    out.push([m[1]!.trim(), raw.startsWith('"') ? JSON.parse(raw) as string : raw]);
  }
  return out;
}

function csrUris(csr: x509.Pkcs10CertificateRequest): string[] {
  try {
    return csr.getExtensions(SAN_OID).flatMap((e) => new x509.SubjectAlternativeNameExtension(e.rawData).names.items)
      .filter((n) => n.type === 'url').map((n) => n.value);
  } catch (e) {
    throw new InvalidSpecError(`csr: subjectAltName cannot be read (${(e as Error).message})`, { field: 'csr', cause: e });
  }
}

function checkIdentity(id: Identity, field: string): Identity {
  if (!id || typeof id !== 'object') throw new InvalidSpecError(`${field}: missing`, { field });
  checkTrustDomain(id.trustDomain, `${field}.trustDomain`);
  if (!isRole(id.role)) throw new InvalidSpecError(`${field}.role: ${JSON.stringify(id.role)} is not one of ${ROLES.join(', ')}`, { field: `${field}.role` });
  checkIdentityName(id.name, `${field}.name`);
  return { trustDomain: id.trustDomain, role: id.role, name: id.name };
}

function checkDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) throw new InvalidSpecError(`days: ${days} must be a whole number 1..${MAX_DAYS}`, { field: 'days' });
  return days;
}

function checkDate(d: Date, field: string): Date {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new InvalidSpecError(`${field}: not a valid date`, { field });
  return d;
}

function checkDns(names: string[], field: string): string[] {
  names.forEach((n, i) => {
    if (!DNS_NAME.test(n)) throw new InvalidSpecError(`${field}[${i}]: ${JSON.stringify(n)} is not a DNS name`, { field });
  });
  return [...new Set(names.map((n) => n.toLowerCase()))];
}

function checkIps(ips: string[], field: string): string[] {
  ips.forEach((a, i) => {
    if (!isIP(a)) throw new InvalidSpecError(`${field}[${i}]: ${JSON.stringify(a)} is not an IPv4 or IPv6 address`, { field });
  });
  return [...new Set(ips)];
}

function parsePublicKey(pem: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch (e) {
    throw new InvalidSpecError(`publicKeyPem: not a PEM public key (${(e as Error).message})`, { field: 'publicKeyPem', cause: e });
  }
}

function checkP256(k: KeyObject, field: string): KeyObject {
  const curve = k.asymmetricKeyDetails?.namedCurve;
  if (k.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new InvalidSpecError(`${field}: key is ${k.asymmetricKeyType ?? 'unknown'}${curve ? ` ${curve}` : ''}; visp keys are ECDSA P-256`, { field });
  }
  return k;
}

function spkiOf(k: KeyObject): ArrayBuffer {
  const der = k.export({ type: 'spki', format: 'der' });
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}

async function privatePem(k: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', k));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** 128 random bits, positive and without a leading zero byte (RFC 5280: at most 20 octets, positive). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

