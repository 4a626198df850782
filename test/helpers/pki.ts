// Certificates for tests: a CA for trust domain visp.test in a temporary
// directory, and `issue(role, name)` writing a certificate and key beside
// it. `otherCa: true` issues from a second, unrelated CA of the same trust
// domain (a certificate that must be refused); `days`/`notBefore` make
// expired or not-yet-valid ones.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Role } from '../../src/trust/identity.js';
import { createCa, issueCertificate, writeCertKey, type CertKey } from '../../src/trust/pki.js';

export const TEST_TRUST_DOMAIN = 'visp.test';

export interface IssuedFiles {
  /** The CA the tests trust (dir/ca.pem), whichever CA issued this certificate. */
  ca: string;
  /** The CA that signed this certificate (dir/ca.pem, or dir/other-ca/ca.pem with otherCa). */
  issuerCa: string;
  cert: string;
  key: string;
}

export interface IssueOptions {
  days?: number;
  notBefore?: Date;
  otherCa?: boolean;
  /** File name without extension, in the PKI directory; default `<role>-<name>` (plus `-other-ca` with otherCa). */
  file?: string;
  dns?: string[];
  ips?: string[];
}

export interface TestPki {
  dir: string;
  trustDomain: string;
  /** dir/ca.pem and dir/ca.key. */
  ca: string;
  caKey: string;
  /** The CA's certificate and key in memory. */
  caCertKey: CertKey;
  issue(role: Role, name: string, opts?: IssueOptions): Promise<IssuedFiles>;
  /** Removes the directory (only when testPki made it). */
  cleanup(): void;
}

export async function testPki(dir?: string): Promise<TestPki> {
  const made = dir === undefined || !existsSync(dir);
  const root = dir ?? mkdtempSync(join(tmpdir(), 'visp-pki-'));
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const caCertKey = await createCa({ trustDomain: TEST_TRUST_DOMAIN, commonName: 'visp test CA' });
  writeCertKey(join(root, 'ca'), caCertKey);
  let other: Promise<CertKey> | undefined;
  const otherCa = (): Promise<CertKey> => (other ??= (async () => {
    const ck = await createCa({ trustDomain: TEST_TRUST_DOMAIN, commonName: 'visp test CA (another one)' });
    mkdirSync(join(root, 'other-ca'), { recursive: true, mode: 0o700 });
    writeCertKey(join(root, 'other-ca', 'ca'), ck);
    return ck;
  })());
  return {
    dir: root,
    trustDomain: TEST_TRUST_DOMAIN,
    ca: join(root, 'ca.pem'),
    caKey: join(root, 'ca.key'),
    caCertKey,
    async issue(role, name, opts = {}) {
      const issuer = opts.otherCa ? await otherCa() : caCertKey;
      const prefix = join(root, opts.file ?? `${role}-${name}${opts.otherCa ? '-other-ca' : ''}`);
      const ck = await issueCertificate({
        ca: issuer,
        identity: { trustDomain: TEST_TRUST_DOMAIN, role, name },
        ...(opts.days !== undefined ? { days: opts.days } : {}),
        ...(opts.notBefore ? { notBefore: opts.notBefore } : {}),
        ...(opts.dns ? { dns: opts.dns } : {}),
        ...(opts.ips ? { ips: opts.ips } : {}),
      });
      writeCertKey(prefix, ck);
      return {
        ca: join(root, 'ca.pem'),
        issuerCa: opts.otherCa ? join(root, 'other-ca', 'ca.pem') : join(root, 'ca.pem'),
        cert: `${prefix}.pem`,
        key: `${prefix}.key`,
      };
    },
    cleanup() {
      if (made) rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Reads the three files of an issue() result (for TLS options: { ca, cert, key } as Buffers). */
export function readTls(f: { ca: string; cert: string; key: string }): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: readFileSync(f.ca), cert: readFileSync(f.cert), key: readFileSync(f.key) };
}
