// Desired egress state → GoBGP, as diff(spec, state) → steps → apply.
//
// Safety does not rest on this code alone: the same rules are installed in
// GoBGP's own policy engine, so a path that reaches GoBGP some other way (a
// bug here, a hand-made `gobgp global rib add`) is still not exported:
// - the global export policy accepts only locally originated paths inside
//   the allowed blocks, no more specific than `maxLength` (prefix sets
//   "visp-egress-allowed-v4"/"-v6" with mask-length ranges; GoBGP's prefix
//   sets hold one family each), and rejects everything
//   else by default — which includes every route learned from a provider
//   (no transit);
// - the global import policy rejects any route a provider sends for our own
//   slices' space or anything inside it (sets "visp-egress-own-v4"/"-v6",
//   block length up to /32 or /128): a provider cannot hijack a slice's
//   traffic into its own table, whatever it announces;
// - every provider session has a max-prefix limit per family (GoBGP tears
//   the session down when a provider sends more).
import { InvalidSpecError, NotFoundError, UnavailableError } from '../errors.js';
import { containsPrefix, formatPrefix, parseAddress, parsePrefix, type Family, type Prefix } from '../ipam/prefix.js';
import type { DefinedSet__Output } from './gen/apipb/DefinedSet.js';
import type { Peer__Output } from './gen/apipb/Peer.js';
import type { Policy__Output } from './gen/apipb/Policy.js';
import type { PolicyAssignment__Output } from './gen/apipb/PolicyAssignment.js';
import { anyType, call, collect, type GobgpApiClient } from './gobgp-client.js';
import { isLocal, nlriPrefix, ownPathFacts, pathFacts } from './paths.js';
import type { BgpPeerStatus, ProviderSpec } from './desired.js';
import { peerStatus } from './status.js';

export type { Family, ProviderSpec };


export interface AnnouncementSpec {
  prefix: string;
  /** The block allocated to the slice; `prefix` must lie inside it. */
  allowed: string;
}

export interface EgressSpec {
  asn: number;
  routerId: string;
  providers: ProviderSpec[];
  announcements: AnnouncementSpec[];
  /** Most specific length ever announced, per family (default /24 and /48). */
  maxLength?: Partial<Record<Family, number>>;
}

export const POLICY = 'visp-egress-export';
export const PREFIX_SET: Record<Family, string> = { ipv4: 'visp-egress-allowed-v4', ipv6: 'visp-egress-allowed-v6' };
export const IMPORT_POLICY = 'visp-egress-import';
export const OWN_SET: Record<Family, string> = { ipv4: 'visp-egress-own-v4', ipv6: 'visp-egress-own-v6' };
const MAX_BITS: Record<Family, number> = { ipv4: 32, ipv6: 128 };
const DEFAULT_MAX_LENGTH: Record<Family, number> = { ipv4: 24, ipv6: 48 };
const DEFAULT_CONNECT_RETRY = 5;

const FAMILY = {
  ipv4: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' },
  ipv6: { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' },
} as const;

// ---- resolved spec -------------------------------------------------------

interface ResolvedProvider { address: string; asn: number; password: string; families: Family[]; maxPrefixes: number; connectRetrySec: number; /** '' = the kernel chooses */ localAddress: string }
interface AllowedEntry { family: Family; block: string; min: number; max: number }
export interface ResolvedEgress {
  providers: Map<string, ResolvedProvider>;
  announce: Map<string, Prefix>;
  allowed: Map<string, AllowedEntry>;
  /** Our slices' blocks and everything inside them: never accepted from a provider. */
  own: Map<string, AllowedEntry>;
}

function asn(v: number, field: string): number {
  if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) throw new InvalidSpecError(`${field}: bad ASN ${v}`, { field });
  return v;
}

/** Validate and resolve; refuses what the export policy would drop anyway. */
export function resolveEgress(spec: EgressSpec): ResolvedEgress {
  asn(spec.asn, 'asn');
  if (parseAddress(spec.routerId, 'routerId').family !== 'ipv4') throw new InvalidSpecError(`routerId: ${spec.routerId} is not a dotted quad (BGP identifiers are 32 bits)`, { field: 'routerId' });
  const providers = new Map<string, ResolvedProvider>();
  spec.providers.forEach((p, i) => {
    const f = `providers[${i}]`;
    const addr = parseAddress(p.address, `${f}.address`);
    const address = formatPrefix({ family: addr.family, start: addr.value, length: 0 }).split('/')[0]!;
    if (providers.has(address)) throw new InvalidSpecError(`${f}.address: ${address} listed twice`, { field: `${f}.address` });
    if (p.asn === spec.asn) throw new InvalidSpecError(`${f}.asn: providers are eBGP peers; ${p.asn} is our own ASN`, { field: `${f}.asn` });
    if (p.families.length === 0 || p.families.some((x) => x !== 'ipv4' && x !== 'ipv6')) throw new InvalidSpecError(`${f}.families: ipv4 and/or ipv6`, { field: `${f}.families` });
    if (!Number.isInteger(p.maxPrefixes) || p.maxPrefixes < 1) throw new InvalidSpecError(`${f}.maxPrefixes: a positive integer is required`, { field: `${f}.maxPrefixes` });
    let localAddress = '';
    if (p.localAddress) {
      const l = parseAddress(p.localAddress, `${f}.localAddress`);
      if (l.family !== addr.family) throw new InvalidSpecError(`${f}.localAddress: ${p.localAddress} is not of the provider address's family (${addr.family})`, { field: `${f}.localAddress` });
      localAddress = formatPrefix({ family: l.family, start: l.value, length: 0 }).split('/')[0]!;
    }
    providers.set(address, {
      address, asn: asn(p.asn, `${f}.asn`), password: p.password ?? '', families: [...new Set(p.families)].sort(),
      maxPrefixes: p.maxPrefixes, connectRetrySec: p.connectRetrySec ?? DEFAULT_CONNECT_RETRY, localAddress,
    });
  });
  const announce = new Map<string, Prefix>();
  const allowed = new Map<string, AllowedEntry>();
  const own = new Map<string, AllowedEntry>();
  spec.announcements.forEach((a, i) => {
    const f = `announcements[${i}]`;
    const prefix = parsePrefix(a.prefix, `${f}.prefix`);
    const block = parsePrefix(a.allowed, `${f}.allowed`);
    const maxLen = spec.maxLength?.[prefix.family] ?? DEFAULT_MAX_LENGTH[prefix.family];
    if (block.family !== prefix.family || !containsPrefix(block, prefix)) {
      throw new InvalidSpecError(`${f}.prefix: ${a.prefix} is not inside the slice's block ${a.allowed}`, { field: `${f}.prefix` });
    }
    if (prefix.length > maxLen) throw new InvalidSpecError(`${f}.prefix: ${a.prefix} is more specific than /${maxLen}`, { field: `${f}.prefix` });
    const key = formatPrefix(prefix);
    announce.set(key, prefix);
    const b = formatPrefix(block);
    allowed.set(`${b} ${block.length}..${maxLen}`, { family: block.family, block: b, min: block.length, max: maxLen });
    own.set(`${b} ${block.length}..${MAX_BITS[block.family]}`, { family: block.family, block: b, min: block.length, max: MAX_BITS[block.family] });
  });
  return { providers, announce, allowed, own };
}

// ---- state read back from GoBGP --------------------------------------------

export interface EgressState {
  peers: Map<string, ResolvedProvider>;
  /** The same sessions as the operator sees them (state, since when, counts). */
  sessions?: BgpPeerStatus[];
  /** Locally originated paths that say what we say (ours), by prefix. */
  paths: Set<string>;
  /** Locally originated paths with other attributes (injected behind our back): prefix → their facts. */
  foreign?: Map<string, string>;
  /** Entries of the allowed prefix set, keyed like ResolvedEgress.allowed. */
  allowed: Map<string, AllowedEntry>;
  /** Entries of the own-space prefix sets (import filter), keyed like ResolvedEgress.own. */
  own?: Map<string, AllowedEntry>;
  /** Whether our export policy exists with the expected statements and is assigned globally. */
  policyOk: boolean;
  policyExists: boolean;
}

const familyOf = (afi: string): Family | undefined => (afi === 'AFI_IP' ? 'ipv4' : afi === 'AFI_IP6' ? 'ipv6' : undefined);

function peerState(p: Peer__Output): ResolvedProvider | undefined {
  const address = p.conf?.neighborAddress;
  if (!address) return undefined;
  const families: Family[] = [];
  let maxPrefixes = 0;
  for (const a of p.afiSafis) {
    const fam = familyOf(String(a.config?.family?.afi ?? ''));
    if (!fam || !a.config?.enabled) continue;
    families.push(fam);
    maxPrefixes = a.prefixLimits?.maxPrefixes ?? 0;
  }
  return {
    address, asn: p.conf?.peerAsn ?? 0, password: p.conf?.authPassword ?? '', families: families.sort(),
    maxPrefixes, connectRetrySec: Number(p.timers?.config?.connectRetry ?? 0),
    // GoBGP shows an unset local address as the wildcard until connected.
    localAddress: ['', '0.0.0.0', '::', '<nil>'].includes(p.transport?.localAddress ?? '') ? '' : p.transport!.localAddress,
  };
}

function expectedPolicy(): { name: string; statements: Array<Record<string, unknown>> } {
  return {
    name: POLICY,
    statements: [
      { name: `${POLICY}-no-transit`, conditions: { routeType: 'ROUTE_TYPE_EXTERNAL' }, actions: { routeAction: 'REJECT' } },
      ...(['ipv4', 'ipv6'] as const).map((f) => (
        { name: `${POLICY}-allowed-${f}`, conditions: { prefixSet: { type: 'ANY', name: PREFIX_SET[f] }, routeType: 'ROUTE_TYPE_LOCAL' }, actions: { routeAction: 'ACCEPT' } })),
    ],
  };
}

function policyMatches(p: Policy__Output | undefined): boolean {
  if (!p) return false;
  const [a, ...allow] = p.statements;
  return p.statements.length === 3
    && a?.conditions?.routeType === 'ROUTE_TYPE_EXTERNAL' && a.actions?.routeAction === 'REJECT'
    && (['ipv4', 'ipv6'] as const).every((f, i) => {
      const b = allow[i];
      return b?.conditions?.prefixSet?.name === PREFIX_SET[f] && b.conditions.prefixSet.type === 'ANY'
        && b.conditions.routeType === 'ROUTE_TYPE_LOCAL' && b.actions?.routeAction === 'ACCEPT';
    });
}

function assignmentMatches(a: PolicyAssignment__Output | undefined): boolean {
  return !!a && a.defaultAction === 'REJECT' && a.policies.length === 1 && a.policies[0]?.name === POLICY;
}

function expectedImportPolicy(): { name: string; statements: Array<Record<string, unknown>> } {
  return {
    name: IMPORT_POLICY,
    statements: (['ipv4', 'ipv6'] as const).map((f) => (
      { name: `${IMPORT_POLICY}-own-${f}`, conditions: { prefixSet: { type: 'ANY', name: OWN_SET[f] }, routeType: 'ROUTE_TYPE_EXTERNAL' }, actions: { routeAction: 'REJECT' } })),
  };
}

function importPolicyMatches(p: Policy__Output | undefined, a: PolicyAssignment__Output | undefined): boolean {
  return !!p && p.statements.length === 2 && (['ipv4', 'ipv6'] as const).every((f, i) => {
    const s = p.statements[i];
    return s?.conditions?.prefixSet?.name === OWN_SET[f] && s.conditions.prefixSet.type === 'ANY'
      && s.conditions.routeType === 'ROUTE_TYPE_EXTERNAL' && s.actions?.routeAction === 'REJECT';
  }) && !!a && a.defaultAction === 'ACCEPT' && a.policies.length === 1 && a.policies[0]?.name === IMPORT_POLICY;
}

/**
 * A read of objects that may not exist yet. Only GoBGP's "no such object"
 * answer means absent (NotFoundError, see gobgp-client.ts isNotFound); any
 * other error (a deadline, a lost connection, a busy daemon) propagates and
 * aborts the pass. Read as "absent", a failed ListPolicy made the plan replace
 * the policies and re-create every provider peer: one slow read flapped every
 * upstream session.
 */
async function absentIfNotFound<T>(read: Promise<T[]>): Promise<T[]> {
  try {
    return await read;
  } catch (e) {
    if (e instanceof NotFoundError) return [];
    throw e;
  }
}

/**
 * GoBGP's state as the plan needs it. Every read must succeed (or answer "not
 * found") for the result to mean anything: a failure rejects, and the caller
 * applies nothing this pass.
 */
export async function readEgressState(c: GobgpApiClient): Promise<EgressState> {
  const peers = new Map<string, ResolvedProvider>();
  const sessions: BgpPeerStatus[] = [];
  for (const r of await collect(c, 'ListPeer', c.listPeer, { enableAdvertised: true })) {
    const s = r.peer ? peerState(r.peer) : undefined;
    if (s) { peers.set(s.address, s); sessions.push(peerStatus(r.peer!)); }
  }
  sessions.sort((a, b) => a.address.localeCompare(b.address));
  const paths = new Set<string>();
  const foreign = new Map<string, string>();
  for (const fam of ['ipv4', 'ipv6'] as const) {
    for (const r of await collect(c, 'ListPath', c.listPath, { tableType: 'GLOBAL', family: FAMILY[fam] })) {
      for (const p of r.destination?.paths ?? []) {
        const pfx = nlriPrefix(p);
        if (!pfx || !isLocal(p)) continue;
        // Ours only if it says what we say: a local path with another origin
        // AS, a community or another next hop was put there by someone else.
        const facts = pathFacts(p);
        if (facts === ownPathFacts(fam)) paths.add(pfx);
        else foreign.set(pfx, facts);
      }
    }
  }
  const readSet = async (names: Record<Family, string>): Promise<Map<string, AllowedEntry>> => {
    const out = new Map<string, AllowedEntry>();
    for (const family of ['ipv4', 'ipv6'] as const) {
      const sets: DefinedSet__Output[] = (await absentIfNotFound(collect(c, 'ListDefinedSet', c.listDefinedSet, { definedType: 'PREFIX', name: names[family] })))
        .flatMap((r) => (r.definedSet ? [r.definedSet] : []));
      for (const s of sets) {
        if (s.name !== names[family]) continue;
        for (const p of s.prefixes) out.set(`${p.ipPrefix} ${p.maskLengthMin}..${p.maskLengthMax}`, { family, block: p.ipPrefix, min: p.maskLengthMin, max: p.maskLengthMax });
      }
    }
    return out;
  };
  const allowed = await readSet(PREFIX_SET);
  const own = await readSet(OWN_SET);
  const readPolicy = async (name: string): Promise<Policy__Output | undefined> =>
    (await absentIfNotFound(collect(c, 'ListPolicy', c.listPolicy, { name }))).map((r) => r.policy).find((p) => p?.name === name) ?? undefined;
  const readAssignment = async (direction: 'EXPORT' | 'IMPORT'): Promise<PolicyAssignment__Output | undefined> =>
    (await absentIfNotFound(collect(c, 'ListPolicyAssignment', c.listPolicyAssignment, { name: 'global', direction }))).map((r) => r.assignment).find(Boolean) ?? undefined;
  const policy = await readPolicy(POLICY);
  const assignment = await readAssignment('EXPORT');
  const importPolicy = await readPolicy(IMPORT_POLICY);
  const importAssignment = await readAssignment('IMPORT');
  return {
    peers, sessions, paths, foreign, allowed, own, policyExists: !!policy || !!importPolicy,
    policyOk: policyMatches(policy) && assignmentMatches(assignment) && importPolicyMatches(importPolicy, importAssignment),
  };
}

// ---- plan ------------------------------------------------------------------

export type EgressStep =
  | { op: 'allowAdd'; entry: AllowedEntry }
  | { op: 'policyEnsure'; recreate: boolean }
  | { op: 'peerDelete'; address: string }
  | { op: 'peerAdd'; provider: ResolvedProvider }
  | { op: 'pathDelete'; prefix: string }
  | { op: 'pathAdd'; prefix: Prefix; /** The facts of a foreign local path for this prefix that ours replaces. */ replaces?: string }
  | { op: 'allowDelete'; entry: AllowedEntry }
  | { op: 'ownAdd'; entry: AllowedEntry }
  | { op: 'ownDelete'; entry: AllowedEntry };

const samePeer = (a: ResolvedProvider, b: ResolvedProvider): boolean =>
  a.asn === b.asn && a.password === b.password && a.maxPrefixes === b.maxPrefixes && a.connectRetrySec === b.connectRetrySec
  && a.families.join() === b.families.join()
  // GoBGP reports the session's actual local address once connected, set or
  // not: only a local address we ask for can be compared. (Unsetting one
  // therefore takes effect at the session's next reset.)
  && (a.localAddress === '' || a.localAddress === b.localAddress);

/**
 * The steps from `state` to `want`, in a safe order: the allowed set grows
 * before paths are added and shrinks only after they are withdrawn.
 */
export function planEgress(want: ResolvedEgress, state: EgressState): EgressStep[] {
  const steps: EgressStep[] = [];
  if (!state.policyOk) steps.push({ op: 'policyEnsure', recreate: state.policyExists });
  // Peers that were up under a wrong (or no) export policy may hold routes
  // the policy rejects; a soft reset out did not withdraw such a route in our
  // tests. So after a policy repair every peer is re-created: the provider
  // drops all it had from us and gets the conformant set anew.
  const redo = !state.policyOk;
  // Our space is refused from providers before we announce it.
  const own = state.own ?? new Map<string, AllowedEntry>();
  for (const [k, e] of want.own) if (!own.has(k)) steps.push({ op: 'ownAdd', entry: e });
  for (const [k, e] of want.allowed) if (!state.allowed.has(k)) steps.push({ op: 'allowAdd', entry: e });
  for (const [addr, have] of state.peers) {
    const w = want.providers.get(addr);
    if (redo || !w || !samePeer(w, have)) steps.push({ op: 'peerDelete', address: addr });
  }
  for (const [addr, w] of want.providers) {
    const have = state.peers.get(addr);
    if (redo || !have || !samePeer(w, have)) steps.push({ op: 'peerAdd', provider: w });
  }
  for (const p of state.paths) if (!want.announce.has(p)) steps.push({ op: 'pathDelete', prefix: p });
  // A local path whose attributes are not ours: withdrawn when we do not
  // announce the prefix, else replaced by ours (GoBGP keeps one local path per
  // prefix, so adding ours replaces it).
  const foreign = state.foreign ?? new Map<string, string>();
  for (const p of foreign.keys()) if (!want.announce.has(p)) steps.push({ op: 'pathDelete', prefix: p });
  for (const [k, p] of want.announce) {
    if (state.paths.has(k)) continue;
    const was = foreign.get(k);
    steps.push(was === undefined ? { op: 'pathAdd', prefix: p } : { op: 'pathAdd', prefix: p, replaces: was });
  }
  for (const [k, e] of state.allowed) if (!want.allowed.has(k)) steps.push({ op: 'allowDelete', entry: e });
  for (const [k, e] of own) if (!want.own.has(k)) steps.push({ op: 'ownDelete', entry: e });
  return steps;
}

export function describeStep(s: EgressStep): string {
  switch (s.op) {
    case 'allowAdd': return `allow ${s.entry.block} ${s.entry.min}..${s.entry.max}`;
    case 'allowDelete': return `disallow ${s.entry.block} ${s.entry.min}..${s.entry.max}`;
    case 'policyEnsure': return `${s.recreate ? 'replace' : 'install'} export policy ${POLICY} and import policy ${IMPORT_POLICY}`;
    case 'ownAdd': return `refuse ${s.entry.block} ${s.entry.min}..${s.entry.max} from providers`;
    case 'ownDelete': return `stop refusing ${s.entry.block} from providers`;
    case 'peerAdd': return `add peer ${s.provider.address} AS${s.provider.asn}`;
    case 'peerDelete': return `delete peer ${s.address}`;
    case 'pathAdd': return s.replaces === undefined ? `announce ${formatPrefix(s.prefix)}` : `announce ${formatPrefix(s.prefix)} (replacing a path not ours: ${s.replaces})`;
    case 'pathDelete': return `withdraw ${s.prefix}`;
  }
}

// ---- apply -----------------------------------------------------------------

/** The GoBGP Path for a locally originated unicast prefix (next hop = self on eBGP). */
export function localPath(prefix: Prefix): Record<string, unknown> {
  const [addr, len] = formatPrefix(prefix).split('/') as [string, string];
  const nlri = { '@type': anyType('IPAddressPrefix'), prefix: addr, prefixLen: Number(len) };
  const origin = { '@type': anyType('OriginAttribute'), origin: 0 };
  const pattrs = prefix.family === 'ipv4'
    ? [origin, { '@type': anyType('NextHopAttribute'), nextHop: '0.0.0.0' }]
    : [origin, { '@type': anyType('MpReachNLRIAttribute'), family: FAMILY.ipv6, nextHops: ['::'], nlris: [nlri] }];
  return { family: FAMILY[prefix.family], nlri, pattrs };
}

function prefixSet(family: Family, entries: AllowedEntry[], names: Record<Family, string> = PREFIX_SET): Record<string, unknown> {
  return { definedType: 'PREFIX', name: names[family], prefixes: entries.map((e) => ({ ipPrefix: e.block, maskLengthMin: e.min, maskLengthMax: e.max })) };
}

function peer(p: ResolvedProvider): Record<string, unknown> {
  return {
    conf: { neighborAddress: p.address, peerAsn: p.asn, authPassword: p.password },
    timers: { config: { connectRetry: p.connectRetrySec } },
    ...(p.localAddress ? { transport: { localAddress: p.localAddress } } : {}),
    afiSafis: p.families.map((f) => ({
      config: { family: FAMILY[f], enabled: true },
      prefixLimits: { family: FAMILY[f], maxPrefixes: p.maxPrefixes },
    })),
    // No graceful restart: see speaker.ts.
  };
}

async function applyStep(c: GobgpApiClient, s: EgressStep): Promise<void> {
  switch (s.op) {
    case 'allowAdd':
      await call(c, 'AddDefinedSet', c.addDefinedSet, { definedSet: prefixSet(s.entry.family, [s.entry]) as never });
      return;
    case 'allowDelete':
      await call(c, 'DeleteDefinedSet', c.deleteDefinedSet, { definedSet: prefixSet(s.entry.family, [s.entry]) as never, all: false });
      return;
    case 'ownAdd':
      await call(c, 'AddDefinedSet', c.addDefinedSet, { definedSet: prefixSet(s.entry.family, [s.entry], OWN_SET) as never });
      return;
    case 'ownDelete':
      await call(c, 'DeleteDefinedSet', c.deleteDefinedSet, { definedSet: prefixSet(s.entry.family, [s.entry], OWN_SET) as never, all: false });
      return;
    case 'policyEnsure':
      if (s.recreate) {
        // "Already gone" is success; any other failure stops here, before
        // the adds below would build on a half-deleted policy.
        const gone = (e: unknown): undefined => { if (e instanceof NotFoundError) return undefined; throw e; };
        for (const [dir, name] of [['EXPORT', POLICY], ['IMPORT', IMPORT_POLICY]] as const) {
          await call(c, 'DeletePolicyAssignment', c.deletePolicyAssignment, { assignment: { name: 'global', direction: dir }, all: true }).catch(gone);
          await call(c, 'DeletePolicy', c.deletePolicy, { policy: { name }, all: true, preserveStatements: false }).catch(gone);
        }
      }
      // The sets must exist before a policy names them; an empty set matches nothing.
      for (const f of ['ipv4', 'ipv6'] as const) {
        await call(c, 'AddDefinedSet', c.addDefinedSet, { definedSet: prefixSet(f, []) as never });
        await call(c, 'AddDefinedSet', c.addDefinedSet, { definedSet: prefixSet(f, [], OWN_SET) as never });
      }
      await call(c, 'AddPolicy', c.addPolicy, { policy: expectedPolicy() as never, referExistingStatements: false });
      await call(c, 'SetPolicyAssignment', c.setPolicyAssignment, {
        assignment: { name: 'global', direction: 'EXPORT', policies: [{ name: POLICY }], defaultAction: 'REJECT' },
      });
      await call(c, 'AddPolicy', c.addPolicy, { policy: expectedImportPolicy() as never, referExistingStatements: false });
      await call(c, 'SetPolicyAssignment', c.setPolicyAssignment, {
        assignment: { name: 'global', direction: 'IMPORT', policies: [{ name: IMPORT_POLICY }], defaultAction: 'ACCEPT' },
      });
      return;
    case 'peerDelete':
      await call(c, 'DeletePeer', c.deletePeer, { address: s.address });
      return;
    case 'peerAdd':
      await call(c, 'AddPeer', c.addPeer, { peer: peer(s.provider) as never });
      return;
    case 'pathDelete': {
      const p = parsePrefix(s.prefix, 'path');
      await call(c, 'DeletePath', c.deletePath, { tableType: 'GLOBAL', family: FAMILY[p.family], path: localPath(p) as never });
      return;
    }
    case 'pathAdd':
      await call(c, 'AddPath', c.addPath, { tableType: 'GLOBAL', path: localPath(s.prefix) as never });
      return;
  }
}

/**
 * Bring GoBGP to `spec`. Returns the steps taken (none when it already
 * matched: a second apply is a no-op). Throws InvalidSpecError before
 * touching GoBGP when the spec is unsafe.
 */
export async function reconcileEgress(c: GobgpApiClient, spec: EgressSpec): Promise<string[]> {
  return (await reconcileEgressObserved(c, spec)).steps;
}

/** What one reconcile saw of GoBGP, brought up to date with what it did: the report needs no second read. */
export interface EgressObserved {
  /** Sessions as read before the steps (a peer just added shows up at the next reconcile). */
  sessions: BgpPeerStatus[];
  /** The prefixes we originate after the steps. */
  announced: Set<string>;
}

/** reconcileEgress, also returning what it observed. */
export async function reconcileEgressObserved(c: GobgpApiClient, spec: EgressSpec): Promise<{ steps: string[]; observed: EgressObserved }> {
  const want = resolveEgress(spec);
  // A failed read aborts the pass with nothing applied; the caller's next
  // pass (the agent reconciles every few seconds) reads again.
  const state = await readEgressState(c).catch((e: unknown) => {
    throw new UnavailableError(`egress: reading GoBGP's state failed, nothing applied: ${(e as Error).message}`, { cause: e });
  });
  const steps = planEgress(want, state);
  for (let i = 0; i < steps.length;) {
    // A run of announcements/withdrawals (a big slice set, a restart) goes
    // through AddPathStream, many paths per message: 10,000 one AddPath at a
    // time took 9.3 s, streamed 0.7 s. A few go one by one.
    let j = i;
    while (j < steps.length && (steps[j]!.op === 'pathAdd' || steps[j]!.op === 'pathDelete')) j++;
    if (j - i >= STREAM_MIN) {
      await streamPaths(c, steps.slice(i, j) as Array<Extract<EgressStep, { op: 'pathAdd' | 'pathDelete' }>>);
      i = j;
    } else {
      await applyStep(c, steps[i]!);
      i++;
    }
  }
  const announced = new Set(state.paths);
  // (A foreign path still in GoBGP is not an announcement of ours.)
  for (const s of steps) {
    if (s.op === 'pathDelete') announced.delete(s.prefix);
    if (s.op === 'pathAdd') announced.add(formatPrefix(s.prefix));
  }
  return { steps: steps.map(describeStep), observed: { sessions: state.sessions ?? [], announced } };
}

const STREAM_MIN = 16;
const STREAM_BATCH = 1000;

function streamPaths(c: GobgpApiClient, steps: Array<Extract<EgressStep, { op: 'pathAdd' | 'pathDelete' }>>): Promise<void> {
  const paths = steps.map((s) => (s.op === 'pathAdd' ? localPath(s.prefix) : { ...localPath(parsePrefix(s.prefix, 'path')), isWithdraw: true }));
  return new Promise((resolve, reject) => {
    const st = c.addPathStream({ deadline: Date.now() + 120_000 }, (err) => (err ? reject(new UnavailableError(`gobgp AddPathStream: ${err.details || err.message}`, { cause: err })) : resolve()));
    for (let i = 0; i < paths.length; i += STREAM_BATCH) st.write({ tableType: 'GLOBAL', paths: paths.slice(i, i + STREAM_BATCH) as never });
    st.end();
  });
}
