// `visp certs`: the testbed's certificates without openssl recipes. Make a
// CA, issue a certificate for an identity, or let a node make its own key
// and request (the key never leaves it) for the CA to sign; show what a
// certificate says and what its role may do.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AlreadyExistsError, InvalidSpecError } from '../errors.js';
import { checkIdentityName, checkTrustDomain, describeIdentity, identityUri, isRole, ROLE_GRANTS, ROLES, type Identity, type Role } from '../trust/identity.js';
import { createCa, createCsr, inspectCertificate, issueCertificate, signCsr, trustDomainOfCa, writeAtomic, writeCertKey, type CertificateInfo, type CertKey } from '../trust/pki.js';
import { parse, positiveInt, UsageError } from './args.js';

const out = (s: string): void => { process.stdout.write(`${s}\n`); };

const USAGE = {
  certs: `usage: visp certs SUBCOMMAND [flags]   (visp certs SUBCOMMAND --help for each)

  ca       --dir DIR --trust-domain TD [--days N]         make a CA: DIR/ca.pem, DIR/ca.key
  issue    --ca-dir DIR --role ROLE --name NAME --out PREFIX [--dns a,b] [--ip a,b] [--days N]
                                                          certificate and key: PREFIX.pem, PREFIX.key
  request  --trust-domain TD --role ROLE --name NAME --out PREFIX
                                                          on the node: PREFIX.key (stays there) and PREFIX.csr
  sign     --ca-dir DIR --csr FILE --out FILE.pem [--role-allowed node,…] [--dns a,b] [--ip a,b] [--days N]
                                                          at the CA: a certificate for the request
  show     FILE.pem [--json]                              identity, validity, issuer, names, what the role may do

Roles: ${ROLES.join(', ')}. Each certificate carries one identity, spiffe://TD/ROLE/NAME.`,
  ca: `usage: visp certs ca --dir DIR --trust-domain TD [--days N]

Makes a CA for trust domain TD (lower-case DNS labels, e.g. testbed.example.org):
DIR/ca.pem (give it to every controller, agent and client) and DIR/ca.key
(0600; keep it on the CA host). Refuses to overwrite an existing CA.
  --days N   validity, 1..3650 (default 3650)`,
  issue: `usage: visp certs issue --ca-dir DIR --role ROLE --name NAME --out PREFIX [--dns a,b] [--ip a,b] [--days N]

Makes a key and a certificate for spiffe://TD/ROLE/NAME (TD: the CA's trust
domain), signed by DIR/ca.pem and DIR/ca.key: PREFIX.pem and PREFIX.key (0600).
Refuses to overwrite them.
  --role ROLE     ${ROLES.join(', ')}
  --name NAME     the AM's, operator's, node's, controller's or etcd member's name (a node's is its node name)
  --dns a,b       DNS names for a server (a controller or etcd member: the names clients dial)
  --ip a,b        IP addresses for a server
  --days N        validity, 1..3650 (default 365)`,
  request: `usage: visp certs request --trust-domain TD --role ROLE --name NAME --out PREFIX

Run where the key will live (e.g. on a node): makes PREFIX.key (0600, it never
leaves this machine) and PREFIX.csr, a request for spiffe://TD/ROLE/NAME. Send
PREFIX.csr to the CA (visp certs sign) and install the certificate it returns
beside the key. Refuses to overwrite them.`,
  sign: `usage: visp certs sign --ca-dir DIR --csr FILE --out FILE.pem [--role-allowed node,…] [--dns a,b] [--ip a,b] [--days N]

Checks the request (its signature; exactly one visp identity; the CA's trust
domain; with --role-allowed, one of those roles), signs it with DIR/ca.pem and
DIR/ca.key, writes the certificate and prints what it grants. Only the identity
and the --dns/--ip names given here go into the certificate.
  --role-allowed R,…   refuse any other role (e.g. node when signing nodes' requests)
  --days N             validity, 1..3650 (default 365)`,
  show: `usage: visp certs show FILE.pem [--json]

Prints the identity (role, name, trust domain), validity (EXPIRED or not yet
valid when so), issuer, DNS and IP names, fingerprint, and what the role may do.`,
} as const;

type Sub = Exclude<keyof typeof USAGE, 'certs'>;
const SUBS: Record<Sub, (args: string[]) => Promise<void>> = { ca: caCmd, issue: issueCmd, request: requestCmd, sign: signCmd, show: showCmd };

export async function certsCmd(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') return out(USAGE.certs);
  if (!Object.hasOwn(SUBS, sub)) throw new UsageError(`certs: unknown subcommand ${JSON.stringify(sub)} (subcommands: ${Object.keys(SUBS).join(', ')}; visp certs --help)`);
  if (rest.includes('--help') || rest.includes('-h')) return out(USAGE[sub as Sub]);
  await SUBS[sub as Sub](rest);
}

async function caCmd(args: string[]): Promise<void> {
  const cmd = 'certs ca';
  const { values } = parse(cmd, args, { dir: { type: 'string' }, 'trust-domain': { type: 'string' }, days: { type: 'string' } });
  const dir = need(cmd, values.dir, 'dir');
  const td = flagged(cmd, () => checkTrustDomain(need(cmd, values['trust-domain'], 'trust-domain'), 'trustDomain'));
  const days = values.days === undefined ? undefined : positiveInt('days', values.days);
  for (const f of ['ca.pem', 'ca.key']) {
    if (existsSync(join(dir, f))) throw new AlreadyExistsError(`${join(dir, f)}: exists; a CA is never overwritten (every certificate it issued depends on it)`);
  }
  const ca = await flaggedAsync(cmd, () => createCa({ trustDomain: td, ...(days !== undefined ? { days } : {}) }));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeCertKey(join(dir, 'ca'), ca);
  const info = inspectCertificate(ca.certPem);
  out(`CA for trust domain ${td}, valid until ${info.notAfter.toISOString()}`);
  out(`  ${join(dir, 'ca.pem')}  certificate: give it to every controller, agent and client`);
  out(`  ${join(dir, 'ca.key')}  private key (0600): keep it here`);
  out(`  fingerprint SHA256 ${info.fingerprint256}`);
}

async function issueCmd(args: string[]): Promise<void> {
  const cmd = 'certs issue';
  const { values } = parse(cmd, args, {
    'ca-dir': { type: 'string' }, role: { type: 'string' }, name: { type: 'string' }, dns: { type: 'string' }, ip: { type: 'string' },
    days: { type: 'string' }, out: { type: 'string' },
  });
  const caDir = need(cmd, values['ca-dir'], 'ca-dir');
  const role = roleFlag(cmd, need(cmd, values.role, 'role'), 'role');
  const name = flagged(cmd, () => checkIdentityName(need(cmd, values.name, 'name'), 'name'));
  const prefix = need(cmd, values.out, 'out');
  const days = values.days === undefined ? undefined : positiveInt('days', values.days);
  refuseOverwrite([`${prefix}.pem`, `${prefix}.key`]);
  const { ca, caFile } = readCa(cmd, caDir);
  const identity: Identity = { trustDomain: trustDomainOfCa(ca.certPem), role, name };
  const ck = await flaggedAsync(cmd, () => issueCertificate({
    ca, identity, dns: list(values.dns), ips: list(values.ip), ...(days !== undefined ? { days } : {}),
  }), caFile);
  mkdirSync(dirname(prefix), { recursive: true });
  writeCertKey(prefix, ck);
  out(`issued ${identityUri(identity)}`);
  out(`  ${prefix}.pem  certificate`);
  out(`  ${prefix}.key  private key (0600)`);
  out(granted(inspectCertificate(ck.certPem)));
}

async function requestCmd(args: string[]): Promise<void> {
  const cmd = 'certs request';
  const { values } = parse(cmd, args, { 'trust-domain': { type: 'string' }, role: { type: 'string' }, name: { type: 'string' }, out: { type: 'string' } });
  const trustDomain = flagged(cmd, () => checkTrustDomain(need(cmd, values['trust-domain'], 'trust-domain'), 'trustDomain'));
  const role = roleFlag(cmd, need(cmd, values.role, 'role'), 'role');
  const name = flagged(cmd, () => checkIdentityName(need(cmd, values.name, 'name'), 'name'));
  const prefix = need(cmd, values.out, 'out');
  refuseOverwrite([`${prefix}.key`, `${prefix}.csr`]);
  const identity: Identity = { trustDomain, role, name };
  const { csrPem, keyPem } = await createCsr({ identity });
  mkdirSync(dirname(prefix), { recursive: true });
  writeAtomic(`${prefix}.key`, keyPem, 0o600);
  writeAtomic(`${prefix}.csr`, csrPem, 0o644);
  out(`request for ${identityUri(identity)}`);
  out(`  ${prefix}.key  private key (0600): stays on this machine`);
  out(`  ${prefix}.csr  request: send it to the CA, which runs`);
  out(`      visp certs sign --ca-dir DIR --csr ${prefix}.csr --out ${prefix}.pem${role === 'node' ? ' --role-allowed node' : ''}`);
  out(`  then install the certificate as ${prefix}.pem beside the key`);
}

async function signCmd(args: string[]): Promise<void> {
  const cmd = 'certs sign';
  const { values } = parse(cmd, args, {
    'ca-dir': { type: 'string' }, csr: { type: 'string' }, days: { type: 'string' }, 'role-allowed': { type: 'string' },
    dns: { type: 'string' }, ip: { type: 'string' }, out: { type: 'string' },
  });
  const caDir = need(cmd, values['ca-dir'], 'ca-dir');
  const csrFile = need(cmd, values.csr, 'csr');
  const outFile = need(cmd, values.out, 'out');
  const days = values.days === undefined ? undefined : positiveInt('days', values.days);
  const allowRoles = values['role-allowed'] === undefined ? undefined : list(values['role-allowed']).map((r) => roleFlag(cmd, r, 'role-allowed'));
  if (allowRoles && !allowRoles.length) throw new UsageError(`${cmd}: flag --role-allowed: name at least one role (${ROLES.join(', ')})`);
  const csrPem = readFlagFile(cmd, csrFile, 'csr');
  const { ca, caFile } = readCa(cmd, caDir);
  const r = await flaggedAsync(cmd, () => signCsr({
    ca, csrPem, dns: list(values.dns), ips: list(values.ip), ...(days !== undefined ? { days } : {}), ...(allowRoles ? { allowRoles } : {}),
  }), caFile, csrFile);
  mkdirSync(dirname(outFile), { recursive: true });
  writeAtomic(outFile, r.certPem, 0o644);
  out(`signed ${identityUri(r.identity)} → ${outFile}`);
  out(granted(inspectCertificate(r.certPem)));
}

async function showCmd(args: string[]): Promise<void> {
  const cmd = 'certs show';
  const { values, positionals } = parse(cmd, args, { json: { type: 'boolean' } }, 1);
  const file = positionals[0];
  if (!file) throw new UsageError(`${cmd}: which certificate? (visp certs show FILE.pem)`);
  const pem = readFlagFile(cmd, file, undefined);
  let info: CertificateInfo;
  try {
    info = inspectCertificate(pem);
  } catch (e) {
    throw relabel(e, file);
  }
  const now = Date.now();
  const status = info.notAfter.getTime() < now ? 'EXPIRED' : info.notBefore.getTime() > now ? 'not yet valid' : 'valid';
  const caTrustDomain = info.isCa ? tryTrustDomain(pem) : undefined;
  if (values.json) {
    out(JSON.stringify({
      file, ...info, notBefore: info.notBefore.toISOString(), notAfter: info.notAfter.toISOString(), status,
      ...(info.identity ? { uri: identityUri(info.identity), grants: ROLE_GRANTS[info.identity.role] } : {}),
      ...(caTrustDomain ? { caTrustDomain } : {}),
    }, null, 2));
    return;
  }
  const id = info.identity;
  const rows: Array<[string, string]> = [['file', file]];
  if (id) {
    rows.push(['identity', identityUri(id)], ['role', id.role], ['name', id.name], ['trust domain', id.trustDomain]);
  } else if (caTrustDomain) {
    rows.push(['identity', `none: a CA certificate (trust domain ${caTrustDomain})`]);
  } else {
    rows.push(['identity', `none: ${info.identityError ?? 'no visp identity'}`]);
  }
  const left = status === 'valid' ? `, ${Math.floor((info.notAfter.getTime() - now) / 86_400_000)} days left` : '';
  rows.push(
    ['valid', `${info.notBefore.toISOString()} to ${info.notAfter.toISOString()}${status === 'valid' ? left : ` (${status})`}`],
    ['subject', info.subject],
    ['issuer', info.issuer],
    ['CA', info.isCa ? 'yes' : 'no'],
  );
  if (info.uris.length > 1 || (!id && info.uris.length)) rows.push(['URIs', info.uris.join(', ')]);
  rows.push(['DNS names', info.dns.join(', ') || '-'], ['IP addresses', info.ips.join(', ') || '-'],
    ['serial', info.serial], ['fingerprint', `SHA256 ${info.fingerprint256}`]);
  if (id) rows.push(['grants', ROLE_GRANTS[id.role]]);
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) out(`${k.padEnd(w)}  ${v}`);
}

// ---- helpers ----

function granted(info: CertificateInfo): string {
  const id = info.identity!;
  const names = [...info.dns, ...info.ips];
  return [
    `  identity  ${describeIdentity(id)}`,
    `  valid     ${info.notBefore.toISOString()} to ${info.notAfter.toISOString()}`,
    ...(names.length ? [`  names     ${names.join(', ')}`] : []),
    `  grants    ${ROLE_GRANTS[id.role]}`,
  ].join('\n');
}

function need(cmd: string, v: string | undefined, flag: string): string {
  if (v === undefined || v === '') throw new UsageError(`${cmd}: flag --${flag} is required (visp ${cmd} --help)`);
  return v;
}

function roleFlag(cmd: string, r: string, flag: string): Role {
  if (!isRole(r)) throw new UsageError(`${cmd}: flag --${flag}: ${JSON.stringify(r)} is not a role (${ROLES.join(', ')})`);
  return r;
}

function list(v: string | undefined): string[] {
  return (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function refuseOverwrite(files: string[]): void {
  for (const f of files) if (existsSync(f)) throw new AlreadyExistsError(`${f}: exists; not overwritten (remove it first, or choose another --out)`);
}

function readFlagFile(cmd: string, file: string, flag: string | undefined): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new UsageError(`${cmd}: ${flag ? `flag --${flag}: ` : ''}cannot read ${file}: ${why}`);
  }
}

function readCa(cmd: string, dir: string): { ca: CertKey; caFile: string } {
  const caFile = join(dir, 'ca.pem');
  const keyFile = join(dir, 'ca.key');
  for (const f of [caFile, keyFile]) {
    if (!existsSync(f)) throw new UsageError(`${cmd}: flag --ca-dir: no ${f} (make a CA with visp certs ca --dir ${dir} --trust-domain TD)`);
  }
  const ca = { certPem: readFileSync(caFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
  try {
    trustDomainOfCa(ca.certPem);
  } catch (e) {
    throw relabel(e, caFile);
  }
  return { ca, caFile };
}

function tryTrustDomain(pem: string): string | undefined {
  try {
    return trustDomainOfCa(pem);
  } catch {
    return undefined;
  }
}

/** The library's field → the flag a user typed. */
const FLAGS: Record<string, string> = { trustDomain: 'trust-domain', days: 'days', dns: 'dns', ips: 'ip', name: 'name', 'identity.name': 'name', allowRoles: 'role-allowed' };

/**
 * A library InvalidSpecError about an option becomes a usage error naming
 * the flag; one about the CA or the request names the file instead.
 */
function rename(cmd: string, e: unknown, caFile?: string, csrFile?: string): unknown {
  if (!(e instanceof InvalidSpecError) || e.field === undefined) return e;
  const flag = FLAGS[e.field];
  if (flag) return new UsageError(`${cmd}: flag --${flag}: ${e.message.replace(/^[\w.[\]]+: /, '')}`);
  if (e.field === 'ca' && caFile) return relabel(e, caFile);
  if (e.field === 'csr' && csrFile) return relabel(e, csrFile);
  return e;
}

function relabel(e: unknown, file: string): unknown {
  if (!(e instanceof InvalidSpecError)) return e;
  return new InvalidSpecError(`${file}: ${e.message.replace(/^[\w.[\]]+: /, '')}`, { ...(e.field ? { field: e.field } : {}), cause: e });
}

function flagged<T>(cmd: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw rename(cmd, e);
  }
}

async function flaggedAsync<T>(cmd: string, f: () => Promise<T>, caFile?: string, csrFile?: string): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw rename(cmd, e, caFile, csrFile);
  }
}
