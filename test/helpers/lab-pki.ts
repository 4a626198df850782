// The certificates an e2e lab runs with: one CA (trust domain visp.test), the
// controller, an aggregate manager, a second AM (for isolation tests), an
// operator, a read-only operator, and one node certificate per node.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createCa, issueCertificate, writeCertKey } from '../../src/trust/pki.js';
import type { Role } from '../../src/trust/identity.js';
import type { TlsFiles } from '../../src/trust/tls.js';

export const TRUST_DOMAIN = 'visp.test';

export interface LabPki {
  dir: string;
  controller: TlsFiles;
  am: TlsFiles;
  am2: TlsFiles;
  operator: TlsFiles;
  readonly: TlsFiles;
  node(name: string): TlsFiles;
  /** Another certificate from the lab's CA (written to dir/<file>). */
  issue(role: Role, name: string, file?: string, o?: { days?: number; notBefore?: Date }): Promise<TlsFiles>;
}

/**
 * `serverIps`: IP SANs on the controller's and the nodes' certificates, for
 * clients that check a server's address (Prometheus scraping their metrics
 * over HTTPS; visp's own clients check the identity instead).
 */
export async function labPki(dir: string, nodes: readonly string[], o: { serverIps?: string[] } = {}): Promise<LabPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa({ trustDomain: TRUST_DOMAIN });
  writeCertKey(join(dir, 'ca'), ca);
  const issue = async (role: Role, name: string, file = `${role}-${name}`, more: { days?: number; notBefore?: Date; ips?: string[] } = {}): Promise<TlsFiles> => {
    const ck = await issueCertificate({ ca, identity: { trustDomain: TRUST_DOMAIN, role, name }, ...more });
    writeCertKey(join(dir, file), ck);
    return { ca: join(dir, 'ca.pem'), cert: join(dir, `${file}.pem`), key: join(dir, `${file}.key`) };
  };
  const nodeFiles = new Map<string, TlsFiles>();
  const server = o.serverIps ? { ips: o.serverIps } : {};
  for (const n of nodes) nodeFiles.set(n, await issue('node', n, undefined, server));
  return {
    dir,
    controller: await issue('controller', 'controller', undefined, server),
    am: await issue('am', 'am1'),
    am2: await issue('am', 'am2'),
    operator: await issue('operator', 'op'),
    readonly: await issue('operator-readonly', 'viewer'),
    node: (name) => nodeFiles.get(name) ?? (() => { throw new Error(`no certificate for node ${name}`); })(),
    issue,
  };
}
