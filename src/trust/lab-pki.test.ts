import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IncompatibleStateError, InvalidSpecError } from '../errors.js';
import { ensurePki, type LabIdentity } from './lab-pki.js';
import { createCa, inspectCertificate, issueCertificate, writeCertKey } from './pki.js';

const TD = 'lab.visp.test';
const IDS: LabIdentity[] = [
  { role: 'controller', name: 'controller', file: 'controller', dns: ['localhost'], ips: ['127.0.0.1', '2001:db8::1'] },
  { role: 'operator', name: 'lab', file: 'operator' },
  { role: 'node', name: 'r1', file: 'node-r1' },
];

let dir: string;
beforeEach(() => { dir = join(mkdtempSync(join(tmpdir(), 'visp-lab-pki-')), 'pki'); });
afterEach(() => { rmSync(join(dir, '..'), { recursive: true, force: true }); });

const pem = (f: string): string => readFileSync(join(dir, f), 'utf8');
const fingerprints = (): Record<string, string> =>
  Object.fromEntries(['ca', ...IDS.map((i) => i.file)].map((f) => [f, `${inspectCertificate(pem(`${f}.pem`)).fingerprint256}/${pem(`${f}.key`).length}`]));

describe('ensurePki', () => {
  it('first run: a 0700 directory with the CA and one certificate per identity, each from the CA, for its identity', async () => {
    const r = await ensurePki(dir, { trustDomain: TD, identities: IDS });
    expect(r.ca).toBe(join(dir, 'ca.pem'));
    expect(Object.keys(r.files)).toEqual(['controller', 'operator', 'node-r1']);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'ca.key')).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(pem('ca.pem'));
    for (const i of IDS) {
      const f = r.files[i.file]!;
      expect(f).toEqual({ cert: join(dir, `${i.file}.pem`), key: join(dir, `${i.file}.key`) });
      expect(statSync(f.key).mode & 0o777).toBe(0o600);
      expect(new X509Certificate(readFileSync(f.cert)).verify(ca.publicKey)).toBe(true);
      expect(inspectCertificate(readFileSync(f.cert, 'utf8')).identity).toEqual({ trustDomain: TD, role: i.role, name: i.name });
    }
    const ctl = inspectCertificate(pem('controller.pem'));
    expect(ctl.dns).toEqual(['localhost']);
    expect(ctl.ips).toHaveLength(2);
  });

  it('second run: changes nothing, and is quick', async () => {
    await ensurePki(dir, { trustDomain: TD, identities: IDS });
    const before = fingerprints();
    const t = performance.now();
    await ensurePki(dir, { trustDomain: TD, identities: IDS });
    expect(performance.now() - t).toBeLessThan(1000);
    expect(fingerprints()).toEqual(before);
  });

  it('makes again only what is missing, from another CA, expiring within a day, for other names, or not matching its key', async () => {
    await ensurePki(dir, { trustDomain: TD, identities: IDS });
    const before = fingerprints();
    const ca = { certPem: pem('ca.pem'), keyPem: pem('ca.key') };
    const other = await createCa({ trustDomain: TD });
    writeCertKey(join(dir, 'controller'), await issueCertificate({ ca: other, identity: { trustDomain: TD, role: 'controller', name: 'controller' }, dns: ['localhost'], ips: ['127.0.0.1', '2001:db8::1'] }));
    writeCertKey(join(dir, 'operator'), await issueCertificate({ ca, identity: { trustDomain: TD, role: 'operator', name: 'lab' }, notBefore: new Date(Date.now() - 3600_000), days: 1 }));
    unlinkSync(join(dir, 'node-r1.key'));
    await ensurePki(dir, { trustDomain: TD, identities: IDS });
    const after = fingerprints();
    expect(after.ca).toBe(before.ca);
    for (const f of ['controller', 'operator', 'node-r1']) expect(after[f], f).not.toBe(before[f]);
    expect(inspectCertificate(pem('operator.pem')).notAfter.getTime()).toBeGreaterThan(Date.now() + 300 * 86_400_000);

    // Another name for the controller, or a key that is not the certificate's.
    const ids = IDS.map((i) => (i.file === 'controller' ? { ...i, dns: ['localhost', 'ctl.lab'] } : i));
    await ensurePki(dir, { trustDomain: TD, identities: ids });
    expect(inspectCertificate(pem('controller.pem')).dns).toEqual(['localhost', 'ctl.lab']);
    const mid = fingerprints();
    writeFileSync(join(dir, 'operator.key'), pem('node-r1.key'));
    await ensurePki(dir, { trustDomain: TD, identities: ids });
    const end = fingerprints();
    expect(end.operator).not.toBe(mid.operator);
    expect(end['node-r1']).toBe(mid['node-r1']);
    expect(end.controller).toBe(mid.controller);
  });

  it('never replaces the CA: another trust domain, half a CA, or an expiring one is an error that says what to do', async () => {
    await ensurePki(dir, { trustDomain: TD, identities: [] });
    await expect(ensurePki(dir, { trustDomain: 'other.test', identities: [] })).rejects.toThrow(IncompatibleStateError);
    await expect(ensurePki(dir, { trustDomain: 'other.test', identities: [] })).rejects.toThrow(/is the CA of trust domain "lab.visp.test", not "other.test"/);
    unlinkSync(join(dir, 'ca.key'));
    await expect(ensurePki(dir, { trustDomain: TD, identities: [] })).rejects.toThrow(/has ca.pem but no ca.key; remove the directory/);
    unlinkSync(join(dir, 'ca.pem'));
    writeCertKey(join(dir, 'ca'), await createCa({ trustDomain: TD, now: new Date(Date.now() - 86_400_000), days: 1 }));
    await expect(ensurePki(dir, { trustDomain: TD, identities: [] })).rejects.toThrow(/the lab CA expires .*; remove/);
  });

  it('refuses bad identities, naming the field', async () => {
    const bad: Array<[LabIdentity[], string]> = [
      [[{ role: 'root' as 'am', name: 'x', file: 'x' }], 'identities[0].role'],
      [[{ role: 'am', name: 'bad name', file: 'x' }], 'identities[0].name'],
      [[{ role: 'am', name: 'x', file: '../x' }], 'identities[0].file'],
      [[{ role: 'am', name: 'x', file: 'ca' }], 'identities[0].file'],
      [[{ role: 'am', name: 'x', file: 'x' }, { role: 'am', name: 'y', file: 'x' }], 'identities[1].file'],
    ];
    for (const [identities, field] of bad) {
      const e = await ensurePki(dir, { trustDomain: TD, identities }).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(InvalidSpecError);
      expect((e as InvalidSpecError).field).toBe(field);
    }
    await expect(ensurePki(dir, { trustDomain: 'UPPER', identities: [] })).rejects.toThrow(/^trustDomain: /);
  });
});
