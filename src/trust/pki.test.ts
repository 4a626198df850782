import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPki } from '../../test/helpers/pki.js';
import { InvalidSpecError } from '../errors.js';
import { identityFromSubjectAltName, type Identity } from './identity.js';
import * as x509 from './x509.js';
import { createCa, createCsr, inspectCertificate, issueCertificate, keyMatchesCert, signCsr, trustDomainOfCa, writeCertKey, type CertKey } from './pki.js';

const TD = 'visp.test';
const id = (role: Identity['role'], name: string, trustDomain = TD): Identity => ({ trustDomain, role, name });

/** Awaits `p` and returns the InvalidSpecError it throws (fails the test if it resolves or throws anything else). */
async function invalid(p: Promise<unknown> | (() => unknown)): Promise<InvalidSpecError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidSpecError);
    return e as InvalidSpecError;
  }
  throw new Error('expected an InvalidSpecError, got success');
}

let ca: CertKey;
let otherCa: CertKey;
beforeAll(async () => {
  [ca, otherCa] = await Promise.all([createCa({ trustDomain: TD }), createCa({ trustDomain: TD, commonName: 'another CA' })]);
});

describe('createCa', () => {
  it('makes a self-signed P-256 CA that carries its trust domain as URI SAN spiffe://<td>', () => {
    const info = inspectCertificate(ca.certPem);
    expect(info.isCa).toBe(true);
    expect(info.uris).toEqual([`spiffe://${TD}`]);
    expect(info.identity).toBeUndefined();
    expect(info.identityError).toMatch(/not spiffe:\/\/<trust-domain>\/<role>\/<name>/);
    expect(info.subject).toBe(`CN=visp CA ${TD}`);
    expect(info.issuer).toBe(info.subject);
    expect(trustDomainOfCa(ca.certPem)).toBe(TD);
    expect(ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const c = new X509Certificate(ca.certPem);
    expect(c.verify(c.publicKey)).toBe(true);
    expect(c.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(keyMatchesCert(ca.certPem, ca.keyPem)).toBe(true);
    expect(keyMatchesCert(ca.certPem, otherCa.keyPem)).toBe(false);
  });

  it('refuses a bad trust domain, days or name, naming the field', async () => {
    expect((await invalid(createCa({ trustDomain: 'Not A Domain' }))).field).toBe('trustDomain');
    for (const days of [0, -1, 3651, 1.5]) {
      const e = await invalid(createCa({ trustDomain: TD, days }));
      expect(e.field).toBe('days');
      expect(e.message).toMatch(/^days: .* 1\.\.3650/);
    }
    expect((await invalid(createCa({ trustDomain: TD, commonName: '' }))).field).toBe('commonName');
  });
});

describe('issueCertificate', () => {
  it('round trip: issue → inspect → the identity, with DNS and IP SANs, leaf extensions', async () => {
    const leaf = await issueCertificate({ ca, identity: id('controller', 'ctl-1'), dns: ['controller.visp.test', 'localhost'], ips: ['127.0.0.1', '2001:db8::1'] });
    const info = inspectCertificate(leaf.certPem);
    expect(info.identity).toEqual(id('controller', 'ctl-1'));
    expect(info.identityError).toBeUndefined();
    expect(info.uris).toEqual(['spiffe://visp.test/controller/ctl-1']);
    expect(info.dns).toEqual(['controller.visp.test', 'localhost']);
    expect(info.ips.map((a) => a.toLowerCase())).toEqual(['127.0.0.1', '2001:db8:0:0:0:0:0:1']);
    expect(info.subject).toBe('CN=controller/ctl-1');
    expect(info.issuer).toBe(`CN=visp CA ${TD}`);
    expect(info.isCa).toBe(false);
    expect(info.serial).toMatch(/^[0-9A-F]{32}$/);
    expect(info.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const days = (info.notAfter.getTime() - info.notBefore.getTime()) / 86_400_000;
    expect(days).toBe(365);
    expect(info.notBefore.getTime()).toBeLessThanOrEqual(Date.now());
    expect(keyMatchesCert(leaf.certPem, leaf.keyPem)).toBe(true);

    const c = new X509Certificate(leaf.certPem);
    expect(c.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(c.keyUsage?.sort()).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    const p = new x509.X509Certificate(leaf.certPem);
    expect(p.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    expect(p.getExtension(x509.BasicConstraintsExtension)?.critical).toBe(true);
    expect(p.getExtension(x509.KeyUsagesExtension)?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(p.signatureAlgorithm).toMatchObject({ name: 'ECDSA', hash: { name: 'SHA-256' } });
  });

  it('two certificates never share a serial', async () => {
    const [a, b] = await Promise.all([issueCertificate({ ca, identity: id('am', 'a') }), issueCertificate({ ca, identity: id('am', 'a') })]);
    expect(inspectCertificate(a.certPem).serial).not.toBe(inspectCertificate(b.certPem).serial);
  });

  it('makes expired and not-yet-valid certificates for other tests', async () => {
    const expired = await issueCertificate({ ca, identity: id('am', 'old'), notBefore: new Date(Date.now() - 10 * 86_400_000), days: 2 });
    const info = inspectCertificate(expired.certPem);
    expect(info.notAfter.getTime()).toBeLessThan(Date.now() - 7 * 86_400_000);
    const future = await issueCertificate({ ca, identity: id('am', 'new'), notBefore: new Date(Date.now() + 86_400_000), days: 1 });
    expect(inspectCertificate(future.certPem).notBefore.getTime()).toBeGreaterThan(Date.now());
  });

  it('with publicKeyPem makes no key (the CSR flow)', async () => {
    const holder = await issueCertificate({ ca, identity: id('node', 'n1') });
    const pub = new X509Certificate(holder.certPem).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const r = await issueCertificate({ ca, identity: id('node', 'n1'), publicKeyPem: pub });
    expect(r.keyPem).toBe('');
    expect(keyMatchesCert(r.certPem, holder.keyPem)).toBe(true);
  });

  it('a certificate from another CA fails verification with the first CA\'s public key', async () => {
    const mine = new X509Certificate((await issueCertificate({ ca, identity: id('am', 'x') })).certPem);
    const theirs = new X509Certificate((await issueCertificate({ ca: otherCa, identity: id('am', 'x') })).certPem);
    const caKey = new X509Certificate(ca.certPem).publicKey;
    expect(mine.verify(caKey)).toBe(true);
    expect(theirs.verify(caKey)).toBe(false);
    expect(theirs.verify(new X509Certificate(otherCa.certPem).publicKey)).toBe(true);
  });

  it('refuses bad input, naming the field', async () => {
    const cases: Array<[Parameters<typeof issueCertificate>[0], string, RegExp]> = [
      [{ ca, identity: id('am', 'a', 'other.test') }, 'identity', /trust domain "other.test" is not the CA's \("visp.test"\)/],
      [{ ca, identity: { trustDomain: TD, role: 'root' as 'am', name: 'a' } }, 'identity.role', /not one of am, operator/],
      [{ ca, identity: id('am', 'a b') }, 'identity.name', /not a valid name/],
      [{ ca, identity: id('am', 'a'), days: 0 }, 'days', /^days: 0 must be a whole number 1\.\.3650/],
      [{ ca, identity: id('am', 'a'), days: 4000 }, 'days', /1\.\.3650/],
      [{ ca, identity: id('am', 'a'), dns: ['ok.test', 'bad name'] }, 'dns', /^dns\[1\]: "bad name" is not a DNS name/],
      [{ ca, identity: id('am', 'a'), ips: ['300.1.1.1'] }, 'ips', /^ips\[0\]: "300.1.1.1" is not an IPv4 or IPv6 address/],
      [{ ca, identity: id('am', 'a'), notBefore: new Date('nope') }, 'notBefore', /not a valid date/],
      [{ ca, identity: id('am', 'a'), publicKeyPem: 'junk' }, 'publicKeyPem', /not a PEM public key/],
      [{ ca: { certPem: ca.certPem, keyPem: otherCa.keyPem }, identity: id('am', 'a') }, 'ca', /does not belong to the CA certificate/],
      [{ ca: { certPem: ca.certPem, keyPem: '' }, identity: id('am', 'a') }, 'ca', /no private key/],
      [{ ca: { certPem: 'x', keyPem: ca.keyPem }, identity: id('am', 'a') }, 'ca', /not a PEM certificate/],
    ];
    for (const [o, field, msg] of cases) {
      const e = await invalid(issueCertificate(o));
      expect(e.field, e.message).toBe(field);
      expect(e.message).toMatch(msg);
    }
    const leaf = await issueCertificate({ ca, identity: id('am', 'a') });
    const e = await invalid(issueCertificate({ ca: leaf, identity: id('am', 'b') }));
    expect(e.message).toMatch(/^ca: certificate is not a CA/);
  });
});

describe('CSR flow', () => {
  it('createCsr → signCsr → a certificate for the requested identity and the requester\'s key', async () => {
    const { csrPem, keyPem } = await createCsr({ identity: id('node', 'edge-1') });
    expect(csrPem).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n/);
    const r = await signCsr({ ca, csrPem, allowRoles: ['node'], days: 30, ips: ['192.0.2.7'] });
    expect(r.identity).toEqual(id('node', 'edge-1'));
    const info = inspectCertificate(r.certPem);
    expect(info.identity).toEqual(id('node', 'edge-1'));
    expect(info.ips).toEqual(['192.0.2.7']);
    expect((info.notAfter.getTime() - info.notBefore.getTime()) / 86_400_000).toBe(30);
    expect(keyMatchesCert(r.certPem, keyPem)).toBe(true);
    expect(new X509Certificate(r.certPem).verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });

  it('refuses a CSR of another trust domain, a forbidden role, an altered one, garbage', async () => {
    const foreign = await createCsr({ identity: id('node', 'n', 'elsewhere.test') });
    expect((await invalid(signCsr({ ca, csrPem: foreign.csrPem }))).message).toMatch(/^csr: trust domain "elsewhere.test" is not the CA's/);
    const am = await createCsr({ identity: id('am', 'portal') });
    const e = await invalid(signCsr({ ca, csrPem: am.csrPem, allowRoles: ['node'] }));
    expect(e.field).toBe('csr');
    expect(e.message).toMatch(/^csr: role "am" is not allowed here \(allowed: node\)/);
    expect((await signCsr({ ca, csrPem: am.csrPem, allowRoles: ['node', 'am'] })).identity.role).toBe('am');

    // The same request with the CN re-signed by another key: the public key inside no longer matches the signature.
    const other = await createCsr({ identity: id('am', 'portal') });
    const a = new x509.Pkcs10CertificateRequest(am.csrPem);
    const b = new x509.Pkcs10CertificateRequest(other.csrPem);
    const spliced = Buffer.from(a.rawData);
    const pa = Buffer.from(a.publicKey.rawData);
    const pb = Buffer.from(b.publicKey.rawData);
    const at = spliced.indexOf(pa);
    expect(at).toBeGreaterThan(0);
    pb.copy(spliced, at);
    const altered = `-----BEGIN CERTIFICATE REQUEST-----\n${spliced.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect((await invalid(signCsr({ ca, csrPem: altered }))).message).toMatch(/^csr: signature does not verify/);

    expect((await invalid(signCsr({ ca, csrPem: 'not a csr' }))).message).toMatch(/^csr: not a PEM certificate request/);
    expect((await invalid(signCsr({ ca, csrPem: am.csrPem, allowRoles: ['root' as 'am'] }))).field).toBe('allowRoles');
  });

  it('refuses a CSR with no or two URI SANs', async () => {
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as CryptoKeyPair;
    const make = (uris: string[]): Promise<x509.Pkcs10CertificateRequest> => x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=x', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: uris.length ? [new x509.SubjectAlternativeNameExtension(uris.map((value) => ({ type: 'url' as const, value })))] : [],
    });
    const two = await make(['spiffe://visp.test/am/a', 'spiffe://visp.test/operator/a']);
    expect((await invalid(signCsr({ ca, csrPem: two.toString('pem') }))).message).toMatch(/^csr: has 2 URI SANs; a visp request has exactly one/);
    const none = await make([]);
    expect((await invalid(signCsr({ ca, csrPem: none.toString('pem') }))).message).toMatch(/^csr: has 0 URI SANs/);
    const notVisp = await make(['https://example.org/x']);
    expect((await invalid(signCsr({ ca, csrPem: notVisp.toString('pem') }))).message).toMatch(/^csr: "https:\/\/example.org\/x" is not spiffe:/);
  });
});

describe('inspectCertificate, trustDomainOfCa', () => {
  it('refuse what is not a certificate, or not a visp CA', async () => {
    expect((await invalid(() => inspectCertificate('hello'))).field).toBe('certificate');
    expect((await invalid(() => inspectCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'))).message).toMatch(/^certificate: certificate cannot be parsed/);
    const leaf = await issueCertificate({ ca, identity: id('am', 'a') });
    expect((await invalid(() => trustDomainOfCa(leaf.certPem))).message).toMatch(/^ca: not a visp CA/);
  });
});

describe('writeCertKey', () => {
  it('writes prefix.pem 0644 and prefix.key 0600; no key file without a key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'visp-pki-test-'));
    try {
      const leaf = await issueCertificate({ ca, identity: id('am', 'a') });
      writeCertKey(join(dir, 'a'), leaf);
      expect(statSync(join(dir, 'a.pem')).mode & 0o777).toBe(0o644);
      expect(statSync(join(dir, 'a.key')).mode & 0o777).toBe(0o600);
      writeCertKey(join(dir, 'b'), { certPem: leaf.certPem, keyPem: '' });
      expect(() => statSync(join(dir, 'b.key'))).toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a real TLS handshake', () => {
  // `strict` refuses bad client certificates in the handshake (what the
  // services do); `lenient` lets the handshake finish and says why the
  // certificate would be refused, so the tests know the refusal is the
  // certificate's fault and not some other failure.
  let strict: tls.Server;
  let lenient: tls.Server;
  const peers: Identity[] = [];
  const reasons: Array<string | undefined> = [];
  const listen = async (rejectUnauthorized: boolean, onConnect: (s: tls.TLSSocket) => void): Promise<tls.Server> => {
    const srv = await issueCertificate({ ca, identity: id('controller', 'ctl'), ips: ['127.0.0.1'] });
    const server = tls.createServer({ key: srv.keyPem, cert: srv.certPem, ca: ca.certPem, requestCert: true, rejectUnauthorized }, onConnect);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return server;
  };
  beforeAll(async () => {
    strict = await listen(true, (s) => {
      peers.push(identityFromSubjectAltName(s.getPeerCertificate().subjectaltname));
      s.end('hello\n');
    });
    lenient = await listen(false, (s) => {
      reasons.push(s.authorized ? undefined : String(s.authorizationError));
      s.end('hello\n');
    });
  });
  afterAll(() => {
    strict.close();
    lenient.close();
  });

  /** Connects with `client` and resolves what the server said, or the error that ended the connection. */
  function attempt(server: tls.Server, client: CertKey): Promise<{ said: string } | { error: string }> {
    return new Promise((resolve) => {
      let said = '';
      const s = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: ca.certPem, cert: client.certPem, key: client.keyPem });
      s.setEncoding('utf8');
      s.on('data', (d: string) => { said += d; });
      s.on('error', (e) => resolve({ error: e.message }));
      s.on('close', () => resolve(said ? { said } : { error: 'closed without a word' }));
    });
  }

  it('a client with a certificate from the CA connects, and the server reads its identity', async () => {
    const client = await issueCertificate({ ca, identity: id('am', 'portal') });
    expect(await attempt(strict, client)).toEqual({ said: 'hello\n' });
    expect(peers.at(-1)).toEqual(id('am', 'portal'));
    expect(await attempt(lenient, client)).toEqual({ said: 'hello\n' });
    expect(reasons.at(-1)).toBeUndefined();
  });

  it('a client with a certificate from another CA (same trust domain) is refused', async () => {
    const n = peers.length;
    const client = await issueCertificate({ ca: otherCa, identity: id('am', 'portal') });
    expect(await attempt(strict, client)).toHaveProperty('error');
    expect(peers.length).toBe(n);
    await attempt(lenient, client);
    expect(reasons.at(-1)).toMatch(/UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_SIGNATURE_FAILURE/);
  });

  it('a client with an expired certificate from the CA is refused', async () => {
    const n = peers.length;
    const client = await issueCertificate({ ca, identity: id('am', 'portal'), notBefore: new Date(Date.now() - 5 * 86_400_000), days: 1 });
    expect(await attempt(strict, client)).toHaveProperty('error');
    expect(peers.length).toBe(n);
    await attempt(lenient, client);
    expect(reasons.at(-1)).toBe('CERT_HAS_EXPIRED');
  });
});

describe('test/helpers/pki.ts', () => {
  it('testPki: a visp.test CA; issue() writes files, from the CA or from an unrelated one; cleanup() removes the directory', async () => {
    const pki = await testPki();
    try {
      expect(trustDomainOfCa(readFileSync(pki.ca, 'utf8'))).toBe('visp.test');
      const good = await pki.issue('node', 'n1');
      const bad = await pki.issue('node', 'n1', { otherCa: true });
      const old = await pki.issue('am', 'a', { notBefore: new Date(Date.now() - 3 * 86_400_000), days: 1, file: 'expired' });
      expect(good).toEqual({ ca: pki.ca, issuerCa: pki.ca, cert: join(pki.dir, 'node-n1.pem'), key: join(pki.dir, 'node-n1.key') });
      expect(bad.ca).toBe(pki.ca);
      expect(bad.issuerCa).not.toBe(pki.ca);
      expect(old.cert).toBe(join(pki.dir, 'expired.pem'));
      const caKey = new X509Certificate(readFileSync(pki.ca)).publicKey;
      expect(new X509Certificate(readFileSync(good.cert)).verify(caKey)).toBe(true);
      expect(new X509Certificate(readFileSync(bad.cert)).verify(caKey)).toBe(false);
      expect(new X509Certificate(readFileSync(bad.cert)).verify(new X509Certificate(readFileSync(bad.issuerCa)).publicKey)).toBe(true);
      expect(inspectCertificate(readFileSync(bad.cert, 'utf8')).identity).toEqual(id('node', 'n1'));
      expect(inspectCertificate(readFileSync(old.cert, 'utf8')).notAfter.getTime()).toBeLessThan(Date.now());
      expect(keyMatchesCert(readFileSync(good.cert, 'utf8'), readFileSync(good.key, 'utf8'))).toBe(true);
    } finally {
      pki.cleanup();
    }
    expect(existsSync(pki.dir)).toBe(false);
  });
});
