// `visp backup` against a controller that keeps writing: the copies are
// taken by the command, in its own process, while the controller allocates
// slice after slice; each copy holds exactly the slices allocated up to some
// point (no gap, no half of a commit), and a controller restored from it
// (docs/deploy.md: stop, copy, start) describes every one of them exactly as
// Allocate returned it and allocates new slices next to them without overlap.
import { execFile } from 'node:child_process';
import { chownSync, copyFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAgent } from '../../src/api/agent-client.js';
import { connect, type VispClient } from '../../src/api/client.js';
import { startController, type ControllerHandle } from '../../src/api/controller-server.js';
import type { Manifest__Output } from '../../src/api/gen/visp/v1/Manifest.js';
import { overlaps, parsePrefix } from '../../src/ipam/prefix.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { labPki, type LabPki } from '../helpers/lab-pki.js';
import { kernelSkipReason, underlayPair } from '../helpers/netns.js';

const run = promisify(execFile);
const ENTRY = fileURLToPath(new URL('./visp-entry.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** `visp backup …` as its own process; its --json line. */
async function backup(store: string, out: string): Promise<{ revision: number; keys: number; bytes: number }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', ENTRY, 'backup', '--store', store, '--out', out, '--json'], { cwd: REPO });
  return JSON.parse(stdout) as { revision: number; keys: number; bytes: number };
}

const topology = (i: number) => ({
  nodes: [{ id: 'r1', node: 'n1' }, { id: 'r2', node: 'n2' }],
  links: [{ id: `l${i}`, members: [{ node: 'r1' }, { node: 'r2' }], encapsulation: 'ENCAPSULATION_VXLAN' as const }],
});

// Room for a few hundred slices (the writer runs for as long as three backups take).
const POOLS = { pools: [{ name: 'bk-v4', prefix: '198.19.0.0/16', class: 'local' as const, defaultBlockLength: 30, largestBlockLength: 24 }] };

describe.skipIf(kernelSkipReason)('visp backup: online, consistent, restorable', () => {
  let dir = '';
  let store = '';
  let pki: LabPki;
  let ctl: ControllerHandle | undefined;
  let api: VispClient | undefined;
  const agents: Array<{ close(): Promise<void> }> = [];
  /** What Allocate answered, in order. */
  const allocated: Manifest__Output[] = [];
  const copies: Array<{ file: string; revision: number; keys: number }> = [];
  /** The controllers' log, printed when a test fails. */
  const logs: string[] = [];

  const start = async (storePath: string): Promise<void> => {
    ctl = await startController({
      listen: [{ address: `unix:${join(dir, 'c.sock')}` }], tls: pki.controller, storePath, ipam: POOLS,
      limits: { ratePerAm: { perSecond: 10_000, burst: 10_000 } }, log: (l) => { logs.push(l); },
    });
    const am = connect(ctl.address, pki.am);
    const op = connect(ctl.address, pki.operator);
    api = { links: am.links, operator: op.operator, close: () => { am.close(); op.close(); } };
  };
  const stop = async (): Promise<void> => {
    api?.close();
    await ctl?.close();
    ctl = undefined;
    api = undefined;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'visp-backup-'));
    store = join(dir, 'store.sqlite');
    pki = await labPki(join(dir, 'pki'), ['n1', 'n2']);
    const u = underlayPair('bk');
    await start(store);
    for (const [name, ns, addr] of [['n1', u.a, u.a4], ['n2', u.b, u.b4]] as const) {
      agents.push(await startAgent({ controller: ctl!.address, node: name, tls: pki.node(name), netns: ns, underlay: [addr], runDir: dir, log: () => undefined }));
    }
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const { nodes } = await api!.operator.listNodes({});
      if (['n1', 'n2'].every((n) => nodes.find((x) => x.name === n)?.connected)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') console.error(`controller log (last 40 lines):\n${logs.slice(-40).join('\n')}`);
  });

  afterAll(async () => {
    for (const a of agents) await a.close().catch(() => undefined);
    await stop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('takes copies while the controller allocates slice after slice', async () => {
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing || allocated.length < 3; i++) {
        allocated.push((await api!.links.allocate({ slice: `s${i}`, topology: topology(i) })).manifest!);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    // Copies at different points of the stream of commits.
    while (allocated.length < 3) await new Promise((r) => setTimeout(r, 20));
    for (let k = 0; k < 3; k++) {
      const file = join(dir, `copy${k}.sqlite`);
      const r = await backup(store, file);
      copies.push({ file, revision: r.revision, keys: r.keys });
      expect(statSync(file).mode & 0o777).toBe(0o600);
    }
    writing = false;
    await writer;
    // The controller kept writing while the copies were taken.
    const revisions = copies.map((c) => c.revision);
    expect(new Set(revisions).size).toBeGreaterThan(1);
    expect(allocated.length).toBeGreaterThan(3);
  });

  it('a controller restored from each copy has exactly a prefix of the slices, as allocated, and allocates beside them', async () => {
    // The agents go first (a controller waits for open streams as it stops).
    for (const a of agents.splice(0)) await a.close();
    await stop();
    for (const [k, c] of copies.entries()) {
      // docs/deploy.md's restore: the controller is stopped; the copy takes the store's place.
      const restored = join(dir, `restored${k}.sqlite`);
      copyFileSync(c.file, restored);
      await start(restored);
      try {
        const { slices } = await api!.operator.listSlices({});
        const names = slices.map((s) => s.slice).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
        expect(names.length).toBeGreaterThan(0);
        expect(names).toEqual(names.map((_, i) => `s${i}`));    // s0 … sK: no gap
        for (const name of names) {
          const m = (await api!.links.describe({ slice: name })).manifest!;
          const a = allocated[Number(name.slice(1))]!;
          expect(m.groupId).toBe(a.groupId);
          expect(m.blocks).toEqual(a.blocks);
          expect(m.slivers.map((s) => [s.id, s.key, s.ipv4Subnet, s.endpoints.map((e) => e.addresses)]))
            .toEqual(a.slivers.map((s) => [s.id, s.key, s.ipv4Subnet, s.endpoints.map((e) => e.addresses)]));
        }
        // IPAM came back too: a new slice gets space and a key no restored slice holds.
        const fresh = (await api!.links.allocate({ slice: 'after-restore', topology: topology(999) })).manifest!;
        const held = names.map((n) => allocated[Number(n.slice(1))]!);
        for (const h of held) {
          for (const b of h.blocks) for (const f of fresh.blocks) expect(overlaps(parsePrefix(b.prefix, 'held'), parsePrefix(f.prefix, 'fresh'))).toBe(false);
          expect(h.slivers[0]!.key).not.toBe(fresh.slivers[0]!.key);
        }
      } finally {
        await stop();
      }
    }
  }, 180_000);

  it('refuses to write over the store, and a store that is not a visp store', async () => {
    await expect(backup(store, store)).rejects.toThrow(/is the store itself/);
    const foreign = join(dir, 'foreign.sqlite');
    writeFileSync(foreign, '');
    await expect(backup(foreign, join(dir, 'x.sqlite'))).rejects.toThrow(/not a visp store/);
    expect(existsSync(join(dir, 'x.sqlite'))).toBe(false);
    await expect(backup(join(dir, 'absent.sqlite'), join(dir, 'y.sqlite'))).rejects.toThrow(/does not exist/);
  });

  it('leaves the store usable by its owner when no controller has it open (root runs the backup, visp owns the store)', async () => {
    const owned = join(dir, 'owned');
    const file = join(owned, 'store.sqlite');
    (await import('node:fs')).mkdirSync(owned);
    const s = await openSqliteStore(file);
    await s.commit({ compares: [], ops: [{ type: 'put', key: 'k', value: 'v', expect: 0 }] });
    await s.close();
    for (const f of [owned, file]) chownSync(f, 65534, 65534);
    expect(existsSync(`${file}-shm`)).toBe(false);   // closed cleanly: no side files
    await backup(file, join(dir, 'owned-copy.sqlite'));
    // A read-only connection cannot remove the -wal/-shm it had to create; they must be the store owner's.
    for (const f of [`${file}-wal`, `${file}-shm`]) if (existsSync(f)) expect(statSync(f).uid).toBe(65534);
  });
});
