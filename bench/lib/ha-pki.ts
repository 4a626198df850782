// Certificates for an HA lab (etcd members, controllers, agents, an AM and an
// operator), all from one CA of trust domain visp.test, written into the
// lab's directory (removed with it). Made with src/trust/pki.ts.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Role } from '../../src/trust/identity.js';
import { createCa, issueCertificate, writeCertKey, type CertKey } from '../../src/trust/pki.js';
import type { TlsFiles } from '../../src/trust/tls.js';

export const TRUST_DOMAIN = 'visp.test';

export interface LabPki {
  dir: string;
  ca: CertKey;
  controller: TlsFiles;
  am: TlsFiles;
  operator: TlsFiles;
  /** Another certificate from the CA (written to dir/<file>), with extra names when given. */
  issue(role: Role, name: string, o?: { file?: string; dns?: string[]; ips?: string[] }): Promise<TlsFiles>;
}

export async function labPki(dir: string): Promise<LabPki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createCa({ trustDomain: TRUST_DOMAIN });
  writeCertKey(join(dir, 'ca'), ca);
  const issue: LabPki['issue'] = async (role, name, o = {}) => {
    const file = o.file ?? `${role}-${name}`;
    writeCertKey(join(dir, file), await issueCertificate({ ca, identity: { trustDomain: TRUST_DOMAIN, role, name }, ...(o.dns ? { dns: o.dns } : {}), ...(o.ips ? { ips: o.ips } : {}) }));
    return { ca: join(dir, 'ca.pem'), cert: join(dir, `${file}.pem`), key: join(dir, `${file}.key`) };
  };
  return { dir, ca, controller: await issue('controller', 'controller'), am: await issue('am', 'am1'), operator: await issue('operator', 'op'), issue };
}
