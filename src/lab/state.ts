// What a lab is made of, kept as JSON in its directory so `visp lab down`
// and `visp lab status` work from a fresh process. Written before each step
// that creates something, so a failure at any point can be undone.
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError } from '../errors.js';
import type { LabIdentity } from '../trust/lab-pki.js';
import type { TlsFiles } from '../trust/tls.js';
import type { LabProvider } from './providers.js';
import type { UnderlayNode } from './underlay.js';

/** Where labs live: /run/visp/lab-<name>/ (VISP_LAB_ROOT moves it, e.g. for a non-root dry run). */
export const labRoot = (): string => process.env.VISP_LAB_ROOT ?? '/run/visp';
export const labDir = (name: string): string => join(labRoot(), `lab-${name}`);
export const stateFile = (name: string): string => join(labDir(name), 'lab.json');

export type LabPhase = 'starting' | 'up' | 'failed' | 'stopping';

export interface LabState {
  version: 1;
  /** The lab's name, which is also the slice id. */
  name: string;
  /** The topology file it was brought up from. */
  file: string;
  dir: string;
  phase: LabPhase;
  createdAt: string;
  /** gRPC address of the controller: "unix:<dir>/controller.sock". */
  controller: string;
  socket: string;
  store: string;
  /** The CLI entry the daemons run (also how their pids are recognised). */
  entry: string;
  hub: string;
  nodes: UnderlayNode[];
  /** Every namespace this lab created or asked to create, in creation order. */
  namespaces: string[];
  /** Experiment namespaces the agents made (from the API), removed at down. */
  experimentNetns: string[];
  /**
   * `agentHost`: the one process that runs every node's agent (agent-host.ts).
   * `agents`: one process per node, as labs brought up before the host
   * recorded them (still stopped by `lab down`).
   */
  pids: { controller?: number; agentHost?: number; agents: Record<string, number>; providers?: Record<string, number> };
  /** Emulated BGP providers (each a namespace running BIRD 2). */
  providers?: LabProvider[];
}

export function writeState(s: LabState): void {
  const file = join(s.dir, 'lab.json');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export function readState(name: string): LabState {
  let text: string;
  try {
    text = readFileSync(stateFile(name), 'utf8');
  } catch (e) {
    throw new NotFoundError(`no lab named "${name}" (no ${stateFile(name)})`, { cause: e });
  }
  return JSON.parse(text) as LabState;
}

export function tryReadState(name: string): LabState | undefined {
  try { return readState(name); } catch { return undefined; }
}

/** Names of labs with a directory under the lab root (state file or not). */
export function listLabs(): string[] {
  try {
    return readdirSync(labRoot()).filter((d) => d.startsWith('lab-')).map((d) => d.slice(4)).sort();
  } catch {
    return [];
  }
}

export function ensureLabRoot(): void {
  mkdirSync(labRoot(), { recursive: true, mode: 0o755 });
}

/** Lab mode's trust domain: every lab has its own CA (in dir/pki), made when the lab comes up. */
export const LAB_TRUST_DOMAIN = 'visp-lab';

/** The lab's TLS files for one of its identities: "controller", "am", "operator" or "node-<name>". */
export function labTls(s: Pick<LabState, 'dir'>, file: string): TlsFiles {
  const pki = join(s.dir, 'pki');
  return { ca: join(pki, 'ca.pem'), cert: join(pki, `${file}.pem`), key: join(pki, `${file}.key`) };
}

/** The identities a lab's CA issues: its controller, its aggregate manager, its operator, one per node. */
export function labIdentities(nodes: readonly string[]): LabIdentity[] {
  return [
    { role: 'controller', name: 'controller', file: 'controller' },
    { role: 'am', name: 'lab', file: 'am' },
    { role: 'operator', name: 'lab', file: 'operator' },
    ...nodes.map((n) => ({ role: 'node' as const, name: n, file: `node-${n}` })),
  ];
}
