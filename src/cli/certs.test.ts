import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError } from '../errors.js';
import { ROLE_GRANTS } from '../trust/identity.js';
import { createCa, inspectCertificate, issueCertificate, writeCertKey } from '../trust/pki.js';
import { UsageError } from './args.js';
import { certsCmd } from './certs.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

/**
 * The real command in a child process: through src/cli/main.ts once `certs`
 * is registered there, until then through the same error handling main.ts
 * has (one "visp: …" line, exit 2 for a usage mistake, 1 otherwise).
 */
const VIA_MAIN = /\bcerts:/.test(readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8'));
const RUNNER = `import('./src/cli/certs.ts').then((m) => m.certsCmd(JSON.parse(process.argv[1]))).then(
  () => process.exit(0),
  (e) => { process.stderr.write('visp: ' + e.message + '\\n'); process.exit(e.constructor.name === 'UsageError' ? 2 : 1); })`;

async function visp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return child(VIA_MAIN, args);
}

async function child(viaMain: boolean, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = viaMain ? ['--import', 'tsx', 'src/cli/main.ts', 'certs', ...args] : ['--import', 'tsx', '-e', RUNNER, JSON.stringify(args)];
  try {
    const r = await run(process.execPath, argv, { cwd: ROOT, timeout: 30_000 });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code?: number; stdout: string; stderr: string };
    if (typeof x.code !== 'number') throw e;
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

/** certsCmd in this process, with what it printed. */
async function certs(...args: string[]): Promise<string> {
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((s: string | Uint8Array) => { chunks.push(String(s)); return true; }) as typeof process.stdout.write;
  try {
    await certsCmd(args);
  } finally {
    process.stdout.write = write;
  }
  return chunks.join('');
}

async function openssl(...args: string[]): Promise<string> {
  const r = await run('openssl', args);
  return r.stdout + r.stderr;
}

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'visp-certs-cli-')); });
afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

describe('visp certs (the real command, a child process)', () => {
  it('ca → request → sign → show', async () => {
    const ca = await visp('ca', '--dir', join(dir, 'ca'), '--trust-domain', 'testbed.example.org');
    expect(ca.code, ca.stderr).toBe(0);
    expect(ca.stdout).toMatch(/^CA for trust domain testbed.example.org/);
    expect(statSync(join(dir, 'ca')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'ca', 'ca.key')).mode & 0o777).toBe(0o600);

    const req = await visp('request', '--trust-domain', 'testbed.example.org', '--role', 'node', '--name', 'edge-1', '--out', join(dir, 'node', 'edge-1'));
    expect(req.code, req.stderr).toBe(0);
    expect(readFileSync(join(dir, 'node', 'edge-1.csr'), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----/);
    expect(statSync(join(dir, 'node', 'edge-1.key')).mode & 0o777).toBe(0o600);

    const sign = await visp('sign', '--ca-dir', join(dir, 'ca'), '--csr', join(dir, 'node', 'edge-1.csr'), '--role-allowed', 'node', '--days', '30', '--out', join(dir, 'node', 'edge-1.pem'));
    expect(sign.code, sign.stderr).toBe(0);
    expect(sign.stdout).toContain('signed spiffe://testbed.example.org/node/edge-1');
    expect(sign.stdout).toContain(ROLE_GRANTS.node);

    const show = await visp('show', join(dir, 'node', 'edge-1.pem'));
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/^identity +spiffe:\/\/testbed.example.org\/node\/edge-1$/m);
    expect(show.stdout).toMatch(/^role +node$/m);
    expect(show.stdout).toMatch(/^name +edge-1$/m);
    expect(show.stdout).toMatch(/^trust domain +testbed.example.org$/m);
    expect(show.stdout).toMatch(/^valid +\S+ to \S+, 29 days left$/m); // 30 days from five minutes ago (certificates are backdated for clock skew)
    expect(show.stdout).toMatch(/^issuer +CN=visp CA testbed.example.org$/m);
    expect(show.stdout).toMatch(/^fingerprint +SHA256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/m);
    expect(show.stdout).toContain(`grants        ${ROLE_GRANTS.node}`);

    const json = await visp('show', join(dir, 'node', 'edge-1.pem'), '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ identity: { trustDomain: 'testbed.example.org', role: 'node', name: 'edge-1' }, status: 'valid', isCa: false });

    expect(await openssl('verify', '-CAfile', join(dir, 'ca', 'ca.pem'), join(dir, 'node', 'edge-1.pem'))).toContain(': OK');

    // Refusals: a forbidden role names the request file (exit 1); a CA is never overwritten; a bad flag is a usage error naming it.
    const am = await visp('request', '--trust-domain', 'testbed.example.org', '--role', 'am', '--name', 'portal', '--out', join(dir, 'am'));
    expect(am.code, am.stderr).toBe(0);
    const refused = await visp('sign', '--ca-dir', join(dir, 'ca'), '--csr', join(dir, 'am.csr'), '--role-allowed', 'node', '--out', join(dir, 'am.pem'));
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toBe(`visp: ${join(dir, 'am.csr')}: role "am" is not allowed here (allowed: node)\n`);
    const again = await visp('ca', '--dir', join(dir, 'ca'), '--trust-domain', 'testbed.example.org');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/ca\.pem: exists; a CA is never overwritten/);
    const bad = await visp('issue', '--ca-dir', join(dir, 'ca'), '--role', 'root', '--name', 'x', '--out', join(dir, 'x'));
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(/^visp: certs issue: flag --role: "root" is not a role/);
  });

  it('issue: openssl verifies the certificate against ca.pem, and sees exactly one URI SAN', async () => {
    const caDir = join(dir, 'ca2');
    expect((await visp('ca', '--dir', caDir, '--trust-domain', 'visp.test', '--days', '30')).code).toBe(0);
    const r = await visp('issue', '--ca-dir', caDir, '--role', 'controller', '--name', 'ctl', '--dns', 'ctl.visp.test,localhost', '--ip', '127.0.0.1,2001:db8::1', '--out', join(dir, 'ctl'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('issued spiffe://visp.test/controller/ctl');
    expect(await openssl('verify', '-CAfile', join(caDir, 'ca.pem'), join(dir, 'ctl.pem'))).toBe(`${join(dir, 'ctl.pem')}: OK\n`);
    const san = await openssl('x509', '-in', join(dir, 'ctl.pem'), '-noout', '-ext', 'subjectAltName');
    expect(san.match(/URI:/g)).toEqual(['URI:']);
    expect(san).toContain('URI:spiffe://visp.test/controller/ctl');
    expect(san).toContain('DNS:ctl.visp.test');
    expect(san).toContain('IP Address:127.0.0.1');
    const text = await openssl('x509', '-in', join(dir, 'ctl.pem'), '-noout', '-text');
    expect(text).toMatch(/TLS Web Client Authentication/);
    expect(text).toMatch(/TLS Web Server Authentication/);
    expect(text).toMatch(/CA:FALSE/);
    expect(statSync(join(dir, 'ctl.key')).mode & 0o777).toBe(0o600);
    // Another CA's certificate does not verify against this CA.
    const other = await createCa({ trustDomain: 'visp.test' });
    writeCertKey(join(dir, 'foreign'), await issueCertificate({ ca: other, identity: { trustDomain: 'visp.test', role: 'am', name: 'x' } }));
    await expect(openssl('verify', '-CAfile', join(caDir, 'ca.pem'), join(dir, 'foreign.pem'))).rejects.toThrow(/unable to get local issuer certificate/);
  });

  it('--help prints the subcommand\'s own usage, exit 0 (certsCmd itself: main.ts answers --help before any command today)', async () => {
    const top = await child(false, ['--help']);
    expect(top).toMatchObject({ code: 0, stderr: '' });
    expect(top.stdout).toMatch(/^usage: visp certs SUBCOMMAND/);
    const sub = await child(false, ['sign', '--help']);
    expect(sub).toMatchObject({ code: 0, stderr: '' });
    expect(sub.stdout).toMatch(/^usage: visp certs sign --ca-dir DIR --csr FILE/);
  });
});

describe('certsCmd (in this process)', () => {
  it('help: the overview and each subcommand\'s own usage', async () => {
    for (const a of [[], ['--help'], ['-h'], ['help']]) expect(await certs(...a)).toMatch(/^usage: visp certs SUBCOMMAND/);
    for (const sub of ['ca', 'issue', 'request', 'sign', 'show']) {
      expect(await certs(sub, '--help')).toMatch(new RegExp(`^usage: visp certs ${sub} `));
      expect(await certs(sub, '--out', 'x', '-h')).toMatch(new RegExp(`^usage: visp certs ${sub} `));
    }
  });

  it('bad flags name the flag', async () => {
    const ca = join(dir, 'ca3');
    await certs('ca', '--dir', ca, '--trust-domain', 'visp.test');
    const cases: Array<[string[], RegExp]> = [
      [['nope'], /^certs: unknown subcommand "nope" \(subcommands: ca, issue, request, sign, show/],
      [['ca', '--trust-domain', 'visp.test'], /^certs ca: flag --dir is required/],
      [['ca', '--dir', join(dir, 'new'), '--trust-domain', 'Visp_Test'], /^certs ca: flag --trust-domain: "Visp_Test" is not a trust domain/],
      [['ca', '--dir', join(dir, 'new'), '--trust-domain', 'visp.test', '--days', 'ten'], /^flag --days: "ten" is not a positive whole number/],
      [['ca', '--dir', join(dir, 'new'), '--trust-domain', 'visp.test', '--days', '4000'], /^certs ca: flag --days: 4000 must be a whole number 1\.\.3650/],
      [['issue', '--ca-dir', ca, '--role', 'am', '--out', join(dir, 'y')], /^certs issue: flag --name is required/],
      [['issue', '--ca-dir', ca, '--role', 'am', '--name', 'a b', '--out', join(dir, 'y')], /^certs issue: flag --name: "a b" is not a valid name/],
      [['issue', '--ca-dir', ca, '--role', 'am', '--name', 'y', '--dns', 'ok,not ok', '--out', join(dir, 'y')], /^certs issue: flag --dns: "not ok" is not a DNS name/],
      [['issue', '--ca-dir', ca, '--role', 'am', '--name', 'y', '--ip', '192.0.2.300', '--out', join(dir, 'y')], /^certs issue: flag --ip: "192.0.2.300" is not an IPv4 or IPv6 address/],
      [['issue', '--ca-dir', join(dir, 'nothing'), '--role', 'am', '--name', 'y', '--out', join(dir, 'y')], /^certs issue: flag --ca-dir: no .*nothing\/ca\.pem/],
      [['issue', '--ca-dir', ca, '--role', 'am', '--name', 'y', '--out'], /^certs issue: flag --out needs a value/],
      [['request', '--trust-domain', 'visp.test', '--role', 'admin', '--name', 'y', '--out', join(dir, 'y')], /^certs request: flag --role: "admin" is not a role/],
      [['sign', '--ca-dir', ca, '--csr', join(dir, 'missing.csr'), '--out', join(dir, 'y.pem')], /^certs sign: flag --csr: cannot read .*missing\.csr: ENOENT/],
      [['sign', '--ca-dir', ca, '--csr', 'x', '--role-allowed', 'node,god', '--out', join(dir, 'y.pem')], /^certs sign: flag --role-allowed: "god" is not a role/],
      [['show'], /^certs show: which certificate\?/],
      [['show', 'a.pem', 'b.pem'], /^certs show: unexpected argument "b.pem"/],
    ];
    for (const [args, msg] of cases) {
      const e = await certsCmd(args).then(() => undefined, (x: unknown) => x);
      expect(e, args.join(' ')).toBeInstanceOf(UsageError);
      expect((e as Error).message, args.join(' ')).toMatch(msg);
    }
  });

  it('never overwrites a key or a request', async () => {
    const ca = join(dir, 'ca4');
    await certs('ca', '--dir', ca, '--trust-domain', 'visp.test');
    await certs('issue', '--ca-dir', ca, '--role', 'am', '--name', 'a', '--out', join(dir, 'a4'));
    const before = readFileSync(join(dir, 'a4.key'), 'utf8');
    await expect(certsCmd(['issue', '--ca-dir', ca, '--role', 'am', '--name', 'a', '--out', join(dir, 'a4')])).rejects.toThrow(AlreadyExistsError);
    await certs('request', '--trust-domain', 'visp.test', '--role', 'node', '--name', 'n', '--out', join(dir, 'n4'));
    await expect(certsCmd(['request', '--trust-domain', 'visp.test', '--role', 'node', '--name', 'n', '--out', join(dir, 'n4')])).rejects.toThrow(/n4\.key: exists; not overwritten/);
    expect(readFileSync(join(dir, 'a4.key'), 'utf8')).toBe(before);
  });

  it('sign refuses a request for another trust domain, naming the file', async () => {
    const ca = join(dir, 'ca5');
    await certs('ca', '--dir', ca, '--trust-domain', 'visp.test');
    await certs('request', '--trust-domain', 'elsewhere.test', '--role', 'node', '--name', 'n', '--out', join(dir, 'n5'));
    await expect(certsCmd(['sign', '--ca-dir', ca, '--csr', join(dir, 'n5.csr'), '--out', join(dir, 'n5.pem')]))
      .rejects.toThrow(`${join(dir, 'n5.csr')}: trust domain "elsewhere.test" is not the CA's ("visp.test")`);
  });

  it('show says EXPIRED and not yet valid; a CA shows its trust domain; not a certificate names the file', async () => {
    const ca = await createCa({ trustDomain: 'visp.test' });
    writeCertKey(join(dir, 'ca6'), ca);
    writeCertKey(join(dir, 'old'), await issueCertificate({ ca, identity: { trustDomain: 'visp.test', role: 'operator-readonly', name: 'v' }, notBefore: new Date(Date.now() - 9 * 86_400_000), days: 2 }));
    writeCertKey(join(dir, 'later'), await issueCertificate({ ca, identity: { trustDomain: 'visp.test', role: 'am', name: 'a' }, notBefore: new Date(Date.now() + 86_400_000) }));
    const old = await certs('show', join(dir, 'old.pem'));
    expect(old).toMatch(/^valid +\S+ to \S+ \(EXPIRED\)$/m);
    expect(old).toContain(ROLE_GRANTS['operator-readonly']);
    expect(JSON.parse(await certs('show', join(dir, 'old.pem'), '--json')).status).toBe('EXPIRED');
    expect(await certs('show', join(dir, 'later.pem'))).toMatch(/^valid +\S+ to \S+ \(not yet valid\)$/m);
    const caShow = await certs('show', join(dir, 'ca6.pem'));
    expect(caShow).toMatch(/^identity +none: a CA certificate \(trust domain visp.test\)$/m);
    expect(caShow).toMatch(/^CA +yes$/m);
    expect(caShow).not.toMatch(/^grants/m);
    expect(inspectCertificate(readFileSync(join(dir, 'ca6.pem'), 'utf8')).isCa).toBe(true);
    await expect(certsCmd(['show', join(dir, 'ca6.key')])).rejects.toThrow(`${join(dir, 'ca6.key')}: not a PEM certificate`);
  });
});
