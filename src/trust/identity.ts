// Who a caller is. One identity per certificate: a single URI SAN in the
// SPIFFE form spiffe://<trust-domain>/<role>/<name>. The role decides what
// the caller may do (see src/api/authz.ts); the name is the AM's, operator's,
// node's, controller's or etcd member's own name (a node's name must equal
// the name its agent registers with). Pure: no TLS, no gRPC, no files.
//
// `etcd` is a member of the etcd cluster several controllers share: the
// testbed CA signs its certificate, so without a role of its own it would
// hold some visp role. It has none of visp's: authz.ts lets it call nothing,
// and agents and clients accept only a `controller` as their server.
import { ID } from '../endpoint/names.js';
import { InvalidSpecError } from '../errors.js';

export const ROLES = ['am', 'operator', 'operator-readonly', 'node', 'controller', 'etcd'] as const;
export type Role = (typeof ROLES)[number];

export interface Identity {
  trustDomain: string;
  role: Role;
  name: string;
}

/** Trust domains are DNS-like names (RFC 1123 labels, lower case), as SPIFFE asks. */
const TRUST_DOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

export function checkTrustDomain(td: string, field = 'trust_domain'): string {
  if (!TRUST_DOMAIN.test(td)) throw new InvalidSpecError(`${field}: ${JSON.stringify(td)} is not a trust domain (lower-case DNS labels, e.g. testbed.example.org)`, { field });
  return td;
}

export function checkIdentityName(name: string, field = 'name'): string {
  // Names follow visp's id rule (node names are ids already).
  if (!ID.test(name)) throw new InvalidSpecError(`${field}: ${JSON.stringify(name)} is not a valid name (letters, digits, '.', '_', '-'; at most 63; starts with a letter or digit)`, { field });
  return name;
}

export function identityUri(id: Identity): string {
  return `spiffe://${id.trustDomain}/${id.role}/${id.name}`;
}

/** Parses spiffe://<td>/<role>/<name>; throws InvalidSpecError saying what is wrong. */
export function parseIdentityUri(uri: string, field = 'identity'): Identity {
  const m = /^spiffe:\/\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(uri);
  if (!m) throw new InvalidSpecError(`${field}: ${JSON.stringify(uri)} is not spiffe://<trust-domain>/<role>/<name>`, { field });
  const [, td, role, name] = m as unknown as [string, string, string, string];
  checkTrustDomain(td, field);
  if (!isRole(role)) throw new InvalidSpecError(`${field}: role ${JSON.stringify(role)} is not one of ${ROLES.join(', ')}`, { field });
  checkIdentityName(name, field);
  return { trustDomain: td, role, name };
}

/**
 * The identity a peer certificate carries, from Node's `subjectaltname`
 * string ("URI:spiffe://…, DNS:…"). Exactly one URI SAN, or it is no
 * identity: two would make the role ambiguous.
 */
export function identityFromSubjectAltName(san: string | undefined): Identity {
  const uris = (san ?? '').split(/,\s*/).filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
  if (uris.length !== 1) throw new InvalidSpecError(`certificate: has ${uris.length} URI SANs; a visp certificate has exactly one (spiffe://<trust-domain>/<role>/<name>)`, { field: 'certificate' });
  return parseIdentityUri(uris[0]!, 'certificate');
}

export function describeIdentity(id: Identity): string {
  return `${id.role} ${id.name} (${id.trustDomain})`;
}

/** What each role may do, in words (`visp certs show`, docs); src/api/authz.ts enforces it. */
export const ROLE_GRANTS: Record<Role, string> = {
  am: 'Links API: Allocate, Provision, Status, Describe, Renew, PerformOperationalAction, Delete, Shutdown on the slices it allocated; GetVersion, ListResources',
  operator: 'Operator API (list, describe, watch, plan, egress configuration); Links Status, Describe, PerformOperationalAction and Shutdown on any slice; GetVersion, ListResources',
  'operator-readonly': 'Operator API reads (list, describe, watch, plan); Links Status and Describe on any slice; GetVersion, ListResources',
  node: 'Agent API: connect as this node only and receive this node\'s desired state',
  controller: 'serves the visp API (agents and clients check that the server they dial holds a controller identity)',
  etcd: 'nothing in visp: an etcd member of the controllers\' store (serves etcd to the controllers and its peers; no visp service accepts it)',
};
