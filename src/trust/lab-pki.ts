// Lab mode makes its own CA and certificates on first run: ensurePki creates
// dir/ca.pem + dir/ca.key and one certificate per identity, and on later
// runs only reads them back. A certificate is made again when it is missing,
// not from this CA, not for the identity or names asked for, not matching
// its key, or expiring within a day. The CA itself is never replaced (every
// certificate and every running daemon trusts it): a CA for another trust
// domain, an expiring CA or half a CA is an error that says what to remove.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { IncompatibleStateError, InvalidSpecError } from '../errors.js';
import { checkTrustDomain, checkIdentityName, isRole, ROLES, type Identity, type Role } from './identity.js';
import { createCa, inspectCertificate, issueCertificate, keyMatchesCert, trustDomainOfCa, writeCertKey, type CertKey } from './pki.js';

export interface LabIdentity {
  role: Role;
  name: string;
  /** Base name of the files in dir (dir/<file>.pem, dir/<file>.key). */
  file: string;
  dns?: string[];
  ips?: string[];
}

export interface LabPkiFiles {
  /** dir/ca.pem */
  ca: string;
  /** Per identity's `file`: its certificate and key paths. */
  files: Record<string, { cert: string; key: string }>;
}

const RENEW_BEFORE_MS = 86_400_000;
const FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export async function ensurePki(dir: string, o: { trustDomain: string; identities: LabIdentity[] }): Promise<LabPkiFiles> {
  const trustDomain = checkTrustDomain(o.trustDomain, 'trustDomain');
  checkIdentities(o.identities);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await ensureCa(dir, trustDomain);
  const caCert = new X509Certificate(ca.certPem);
  const files: LabPkiFiles['files'] = {};
  for (const i of o.identities) {
    const prefix = join(dir, i.file);
    const identity: Identity = { trustDomain, role: i.role, name: i.name };
    if (!current(prefix, caCert, identity, i)) {
      writeCertKey(prefix, await issueCertificate({ ca, identity, ...(i.dns ? { dns: i.dns } : {}), ...(i.ips ? { ips: i.ips } : {}) }));
    }
    files[i.file] = { cert: `${prefix}.pem`, key: `${prefix}.key` };
  }
  return { ca: join(dir, 'ca.pem'), files };
}

async function ensureCa(dir: string, trustDomain: string): Promise<CertKey> {
  const certFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca.key');
  const hasCert = existsSync(certFile);
  const hasKey = existsSync(keyFile);
  if (!hasCert && !hasKey) {
    const ca = await createCa({ trustDomain, commonName: `visp lab CA ${trustDomain}` });
    writeCertKey(join(dir, 'ca'), ca);
    return ca;
  }
  if (!hasCert || !hasKey) {
    throw new IncompatibleStateError(`${dir}: has ${hasCert ? 'ca.pem but no ca.key' : 'ca.key but no ca.pem'}; remove the directory to start a new lab CA (every certificate in it is made again)`);
  }
  const ca = { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
  const theirs = trustDomainOfCa(ca.certPem);
  if (theirs !== trustDomain) {
    throw new IncompatibleStateError(`${certFile}: is the CA of trust domain ${JSON.stringify(theirs)}, not ${JSON.stringify(trustDomain)}; use another directory or remove this one`);
  }
  if (!keyMatchesCert(ca.certPem, ca.keyPem)) throw new IncompatibleStateError(`${keyFile}: is not the key of ${certFile}; remove the directory to start a new lab CA`);
  const notAfter = inspectCertificate(ca.certPem).notAfter;
  if (notAfter.getTime() - Date.now() < RENEW_BEFORE_MS) {
    throw new IncompatibleStateError(`${certFile}: the lab CA expires ${notAfter.toISOString()}; remove ${dir} to start a new one (every certificate in it is made again)`);
  }
  return ca;
}

/** Whether prefix.pem/.key hold a usable certificate from `ca` for exactly this identity and these names. */
function current(prefix: string, ca: X509Certificate, identity: Identity, want: LabIdentity): boolean {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = readFileSync(`${prefix}.pem`, 'utf8');
    keyPem = readFileSync(`${prefix}.key`, 'utf8');
  } catch {
    return false;
  }
  try {
    const c = new X509Certificate(certPem);
    if (!c.checkIssued(ca) || !c.verify(ca.publicKey)) return false;
    const info = inspectCertificate(certPem);
    if (!info.identity || info.identity.trustDomain !== identity.trustDomain || info.identity.role !== identity.role || info.identity.name !== identity.name) return false;
    if (info.notAfter.getTime() - Date.now() < RENEW_BEFORE_MS || info.notBefore.getTime() > Date.now()) return false;
    if (!sameSet(info.dns, (want.dns ?? []).map((d) => d.toLowerCase()))) return false;
    if (!sameSet(info.ips.map(normalIp), (want.ips ?? []).map(normalIp))) return false;
    return keyMatchesCert(certPem, keyPem);
  } catch {
    return false;
  }
}

function checkIdentities(ids: LabIdentity[]): void {
  const seen = new Set<string>();
  ids.forEach((i, n) => {
    const field = `identities[${n}]`;
    if (!isRole(i.role)) throw new InvalidSpecError(`${field}.role: ${JSON.stringify(i.role)} is not one of ${ROLES.join(', ')}`, { field: `${field}.role` });
    checkIdentityName(i.name, `${field}.name`);
    if (!FILE.test(i.file) || i.file === 'ca') throw new InvalidSpecError(`${field}.file: ${JSON.stringify(i.file)} is not a plain file name (letters, digits, '.', '_', '-'; not "ca")`, { field: `${field}.file` });
    if (seen.has(i.file)) throw new InvalidSpecError(`${field}.file: ${JSON.stringify(i.file)} is used twice`, { field: `${field}.file` });
    seen.add(i.file);
  });
}

function sameSet(a: string[], b: string[]): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
}

/** An address in one spelling (Node prints IPv6 SANs uncompressed and upper case; the URL parser writes RFC 5952 form). */
function normalIp(a: string): string {
  return a.includes(':') ? new URL(`http://[${a}]/`).hostname : a;
}
