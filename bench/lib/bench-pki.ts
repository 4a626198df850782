// Certificates for a benchmark's lab: a CA for the trust domain the bench
// controller's plaintext identity lives in (visp.test), and one leaf per
// identity asked for, written into the lab's own directory (removed with it).
// Made with src/trust/pki.ts, as `visp certs` makes them.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Role } from '../../src/trust/identity.js';
import { createCa, issueCertificate, writeCertKey } from '../../src/trust/pki.js';
import type { TlsFiles } from '../../src/trust/tls.js';

export const BENCH_TRUST_DOMAIN = 'visp.test';
/** Benchmarks talk to the lab's controller as this AM over its plaintext unix socket (the tls benchmark compares that with mTLS). */
export const BENCH_AM = `spiffe://${BENCH_TRUST_DOMAIN}/am/bench`;

export interface BenchPki {
  dir: string;
  /** The files of `role/name` (one of the identities benchPki was given). */
  files(role: Role, name: string): TlsFiles;
}

/** A CA and one certificate per identity in `dir` (made fresh; the directory is the lab's and goes with it). */
export async function benchPki(dir: string, identities: ReadonlyArray<{ role: Role; name: string }>): Promise<BenchPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa({ trustDomain: BENCH_TRUST_DOMAIN });
  writeCertKey(join(dir, 'ca'), ca);
  const made = new Map<string, TlsFiles>();
  for (const { role, name } of identities) {
    const file = `${role}-${name}`;
    writeCertKey(join(dir, file), await issueCertificate({ ca, identity: { trustDomain: BENCH_TRUST_DOMAIN, role, name } }));
    made.set(`${role}/${name}`, { ca: join(dir, 'ca.pem'), cert: join(dir, `${file}.pem`), key: join(dir, `${file}.key`) });
  }
  return {
    dir,
    files(role, name) {
      const f = made.get(`${role}/${name}`);
      if (!f) throw new Error(`bench pki: no certificate for ${role}/${name} (have ${[...made.keys()].join(', ')})`);
      return f;
    },
  };
}

/** `--ca F --cert F --key F` for a child process. */
export const tlsArgs = (f: TlsFiles): string[] => ['--ca', f.ca, '--cert', f.cert, '--key', f.key];
