// Who may call what. One table, method → roles; a role missing from a row is
// PERMISSION_DENIED. Aggregate managers are further scoped to the slices they
// allocated (the controller checks the owner it recorded at Allocate, and
// answers NOT_FOUND for anyone else's, exactly as for a slice that does not
// exist). Operators are not scoped; a node identity may only run an agent.
import { PermissionDeniedError } from '../errors.js';
import { identityUri, type Identity, type Role } from '../trust/identity.js';

export interface Caller {
  identity: Identity;
  /** spiffe://… of the identity: what the controller records as a slice's owner. */
  uri: string;
  /** The transport's peer address, for the audit log. */
  peer: string;
}

/** What a call may see: `owner` set = only that AM's slices; unset = every slice (operators). */
export interface Scope { owner?: string }

const READERS: readonly Role[] = ['operator', 'operator-readonly'];
const ANY_CLIENT: readonly Role[] = ['am', 'operator', 'operator-readonly'];

/** Method ("Service.Rpc") → the roles that may call it. */
export const POLICY: Readonly<Record<string, readonly Role[]>> = {
  'Links.GetVersion': ANY_CLIENT,
  'Links.ListResources': ANY_CLIENT,
  'Links.Allocate': ['am'],
  'Links.Provision': ['am'],
  'Links.Status': ANY_CLIENT,
  'Links.Describe': ANY_CLIENT,
  'Links.Renew': ['am'],
  'Links.PerformOperationalAction': ['am', 'operator'],
  'Links.Delete': ['am'],
  'Links.Shutdown': ['am', 'operator'],
  'Links.SetLinkProperties': ['am', 'operator'],
  'Links.CancelScheduledChange': ['am', 'operator'],
  'Operator.ListNodes': READERS,
  'Operator.ListSlices': READERS,
  'Operator.ListTunnels': READERS,
  'Operator.GetTunnel': READERS,
  'Operator.WatchEvents': READERS,
  'Operator.ListBgp': READERS,
  'Operator.Plan': READERS,
  'Operator.SetEgressNode': ['operator'],
  'Operator.SetLinkProperties': ['operator'],
  'Operator.CancelScheduledChange': ['operator'],
  'Agent.Connect': ['node'],
  // The controller's web page (src/web/): every slice's picture and the tunnel table, live.
  'Web.View': READERS,
  // The Prometheus endpoint of the controller and of each agent (src/api/metrics-server.ts).
  'Metrics.Scrape': READERS,
};

/** Calls that change state: each is written to the audit log. */
export const MUTATING: ReadonlySet<string> = new Set([
  'Links.Allocate', 'Links.Provision', 'Links.Renew', 'Links.PerformOperationalAction', 'Links.Delete', 'Links.Shutdown',
  'Operator.SetEgressNode', 'Agent.Connect', 'Links.SetLinkProperties', 'Operator.SetLinkProperties',
  'Links.CancelScheduledChange', 'Operator.CancelScheduledChange',
]);

export function callerOf(identity: Identity, peer: string): Caller {
  return { identity, uri: identityUri(identity), peer };
}

/** Allowed → the scope the call runs with; else PermissionDeniedError naming the method and the roles that may call it. */
export function authorize(caller: Caller, method: string): Scope {
  const roles = POLICY[method];
  if (!roles) throw new PermissionDeniedError(`${method}: no role may call this`);
  if (!roles.includes(caller.identity.role)) {
    throw new PermissionDeniedError(`${method}: a ${caller.identity.role} identity may not call this (allowed: ${roles.join(', ')})`);
  }
  return caller.identity.role === 'am' ? { owner: caller.uri } : {};
}
