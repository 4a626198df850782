// Named namespaces made in-process (native/netnsmake.c through
// src/netlink/netns.ts) behave as `ip netns add` makes them: iproute2 lists
// them, enters them and deletes them; the name is taken exclusively; many
// made at once are distinct namespaces; and no thread of the calling process
// is left in any of them.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { netnsAdd, netnsCreate, netnsDel, netnsExists } from '../../src/netlink/netns.js';
import { delNetns, execIn, ipIn, kernelSkipReason, makeNetns, sh } from '../helpers/netns.js';

const RUN = process.env.VISP_TEST_RUN ?? 'x';
const named = new Set<string>();
const fresh = (tag: string): string => {
  const n = `vt-${RUN}-${tag}-${randomBytes(3).toString('hex')}`;
  named.add(n);
  return n;
};
/** Device and inode of the namespace behind a path (stat -L, as an outsider sees it). */
const identity = (path: string): string => sh('stat', ['-L', '-c', '%d:%i', path]).trim();
const listed = (): string[] => sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
/** Every thread of this process with its network namespace. */
const threads = (): Map<string, string> => new Map(readdirSync('/proc/self/task').map((t) => {
  try { return [t, readlinkSync(`/proc/self/task/${t}/ns/net`)]; } catch { return [t, 'gone']; }
}));

describe.skipIf(kernelSkipReason)('named namespaces made in-process (as ip netns add)', () => {
  afterAll(() => { for (const n of named) delNetns(n); });

  it('makes a namespace iproute2 lists and enters, with its own lo (up when asked)', async () => {
    const up = fresh('mk'), down = fresh('mk');
    expect(await netnsCreate(up, { loopbackUp: true })).toBe(true);
    expect(await netnsCreate(down)).toBe(true);
    expect(listed()).toEqual(expect.arrayContaining([up, down]));
    expect(identity(`/run/netns/${up}`)).not.toBe(identity('/proc/self/ns/net'));
    expect(identity(`/run/netns/${up}`)).not.toBe(identity(`/run/netns/${down}`));
    for (const [ns, isUp] of [[up, true], [down, false]] as const) {
      const links = JSON.parse(execIn(ns, 'ip', '-j', 'link', 'show')) as Array<{ ifname: string; flags: string[] }>;
      expect(links.map((l) => l.ifname)).toContain('lo');
      expect(links.find((l) => l.ifname === 'lo')!.flags.includes('UP')).toBe(isUp);
    }
    // Usable: a link made in one is not in the other, nor here.
    ipIn(up, 'link', 'add', 'vtbr0', 'type', 'bridge');
    expect(() => ipIn(down, 'link', 'show', 'vtbr0')).toThrow();
    expect(() => sh('ip', ['link', 'show', 'vtbr0'])).toThrow();
    sh('ip', ['netns', 'del', up]);
    await netnsDel(down);
    expect(netnsExists(up) || netnsExists(down)).toBe(false);
  });

  it('reports a name that exists (made by iproute2 or by us) and leaves that namespace alone', async () => {
    const theirs = makeNetns('ex');
    ipIn(theirs, 'link', 'add', 'vtkeepbr0', 'type', 'bridge');
    const id = identity(`/run/netns/${theirs}`);
    expect(await netnsCreate(theirs, { loopbackUp: true })).toBe(false);
    await netnsAdd(theirs);   // exists: a no-op
    expect(identity(`/run/netns/${theirs}`)).toBe(id);
    expect(ipIn(theirs, 'link', 'show', 'vtkeepbr0')).toContain('vtkeepbr0');
    const ours = fresh('ex');
    expect(await netnsCreate(ours)).toBe(true);
    const ourId = identity(`/run/netns/${ours}`);
    expect(await netnsCreate(ours)).toBe(false);
    expect(identity(`/run/netns/${ours}`)).toBe(ourId);
    delNetns(theirs);
    await netnsDel(ours);
  });

  it('refuses a name iproute2 would refuse, and leaves nothing behind', async () => {
    for (const bad of ['', '.', '..', 'a/b', 'x'.repeat(256)]) {
      await expect(netnsCreate(bad)).rejects.toThrow(/invalid namespace name/);
    }
  });

  it('an aborted signal stops a creation that has not started', async () => {
    const n = fresh('abort');
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(netnsCreate(n, { signal: ac.signal })).rejects.toThrow('stop');
    expect(netnsExists(n)).toBe(false);
  });

  it('makes 50 at once: 50 distinct namespaces, each deletable by ip netns del, and no thread of ours moved', async () => {
    const ownNs = readlinkSync('/proc/self/ns/net');
    const before = threads();
    expect([...before.values()].every((ns) => ns === ownNs)).toBe(true);
    const names = Array.from({ length: 50 }, () => fresh('many'));
    const made = await Promise.all(names.map((n) => netnsCreate(n, { loopbackUp: true })));
    expect(made.every(Boolean)).toBe(true);
    const ids = names.map((n) => identity(`/run/netns/${n}`));
    expect(new Set(ids).size).toBe(50);
    expect(ids).not.toContain(identity('/proc/self/ns/net'));
    // Every thread (those there before and any started since) is still in our namespace.
    expect(readlinkSync('/proc/self/ns/net')).toBe(ownNs);
    const after = threads();
    for (const [t, ns] of after) if (ns !== 'gone') expect(`${t} ${ns}`).toBe(`${t} ${ownNs}`);
    for (const [t, ns] of before) if (after.has(t) && after.get(t) !== 'gone') expect(after.get(t)).toBe(ns);
    expect(listed()).toEqual(expect.arrayContaining(names));
    for (const n of names) sh('ip', ['netns', 'del', n]);
    expect(names.filter(netnsExists)).toEqual([]);
  });

  it('deletes a namespace iproute2 made, and an absent name is fine', async () => {
    const n = makeNetns('del');
    await netnsDel(n);
    expect(netnsExists(n)).toBe(false);
    expect(listed()).not.toContain(n);
    await netnsDel(n);
  });

  // A private mount namespace (unshare -m, propagation private) with an
  // empty tmpfs on /run: /run/netns does not exist there, so the first
  // create must make it a shared mount point; nothing of it reaches the host.
  it('sets up /run/netns where it was never set up (in a private mount namespace)', () => {
    const name = `vt-${RUN}-fresh-${randomBytes(3).toString('hex')}`;
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      'mount -t tmpfs visp-test /run && exec "$0" --import tsx test/kernel/fixtures/netns-fresh-child.ts "$1"',
      process.execPath, name], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toEqual({
      before: false, created: true, mountPoint: true, shared: true, isNamespace: true,
      links: [{ ifname: 'lo', up: true }], gone: true,
    });
    expect(listed()).not.toContain(name);
  });

  it('removes the name again when the bind mount fails (as iproute2 does)', () => {
    const name = `vt-${RUN}-bindfail-${randomBytes(3).toString('hex')}`;
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
      'mount -t tmpfs visp-test /run && exec "$0" --import tsx test/kernel/fixtures/netns-fresh-child.ts "$1" bind-fails',
      process.execPath, name], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ step: 'bind', code: 'ENOENT', left: false, dir: true });
    expect(listed()).not.toContain(name);
  });
});
