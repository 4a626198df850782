// Who owns what on a node, as the agent enforces it (NodeKernel with
// namespaces: 'owned', the agent's setting): a namespace visp creates is
// marked for the slice (its loopback's alias) and used only by that slice;
// the node's own namespace, a namespace visp did not create and another
// slice's are refused before anything in them is touched; a teardown
// deletes only the slice's own namespaces. Inside an experiment namespace
// visp manages only what it built: the experimenter's own addresses, routes
// and interfaces survive a reconcile, an agent restart (a fresh NodeKernel)
// and a link restart (restartEndpoint), on layer 2 (VXLAN) and layer 3 (GRE).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeKernel } from '../../src/endpoint/node.js';
import type { EndpointSpec } from '../../src/endpoint/spec.js';
import { delNetns, ipIn, ipLink, ipLinks, kernelSkipReason, makeNetns, sh, underlayPair } from '../helpers/netns.js';
import { ok, ping, vispLinks } from '../helpers/nodes.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const RUN = process.env.VISP_TEST_RUN ?? 'x';

describe.skipIf(kernelSkipReason)('namespace ownership on a node (the agent\'s last line of defence)', () => {
  let u: ReturnType<typeof underlayPair>;
  let A: NodeKernel, B: NodeKernel;
  let runDir: string;
  /** Namespaces the kernels create (named like the test's own, so the leak check watches them); removed after. */
  const named: string[] = [];
  const fresh = (tag: string): string => {
    const n = `vt-${RUN}-${tag}-${randomBytes(3).toString('hex')}`;
    named.push(n);
    return n;
  };

  beforeAll(() => {
    sh('bash', [join(repo, 'scripts/build-engine.sh')]);
    runDir = mkdtempSync(join(tmpdir(), 'visp-nsown-'));
    u = underlayPair('no');
    A = new NodeKernel({ netns: u.a, namespaces: 'owned', engine: { runDir } });
    B = new NodeKernel({ netns: u.b, namespaces: 'owned', engine: { runDir } });
  });
  afterAll(async () => {
    await A?.stopEngine();
    await B?.stopEngine();
    A?.close();
    B?.close();
    for (const n of named) delNetns(n);
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  });

  let octet = 10;
  /** Both ends of a point-to-point link of slice `slice` (group) into namespaces xa (on A) and xb (on B). */
  const link = (slice: string, group: number, xa: string, xb: string, kind: 'vxlan' | 'gre' = 'vxlan'): [EndpointSpec, EndpointSpec] => {
    const o = octet++;
    const common = { slice, link: `l${o}`, group, kind, key: 5000 + o, ifname: 'eth1' };
    return [
      { ...common, local: u.a4, remotes: [u.b4], netns: xa, addresses: [`192.0.2.${o * 2}/31`, `2001:db8:${o}::/127`] },
      { ...common, local: u.b4, remotes: [u.a4], netns: xb, addresses: [`192.0.2.${o * 2 + 1}/31`, `2001:db8:${o}::1/127`] },
    ];
  };
  const loAlias = (ns: string): string | undefined => ipLink(ns, 'lo').ifalias as string | undefined;
  const names = (ns: string): string[] => ipLinks(ns).map((l) => `${l.ifname}#${l.ifindex}`).sort();

  it('creates a missing namespace and marks it for the slice (its loopback alias, lo up)', async () => {
    const [xa, xb] = [fresh('ma'), fresh('mb')];
    const [sa, sb] = link('s1', 7401, xa, xb);
    ok(await A.reconcile([sa]));
    ok(await B.reconcile([sb]));
    expect(ipLink(xa, 'lo')).toMatchObject({ ifalias: 'visp-netns:s1/7401', operstate: 'UNKNOWN' });
    expect(ipLink(xa, 'lo').flags).toContain('UP');
    expect(ping(xa, sb.addresses[0]!.split('/')[0]!)).toBe(true);
  });

  it("refuses the node's own namespace: nothing is built there or anywhere", async () => {
    const before = names(u.a);
    const [sa] = link('s2', 7402, u.a, 'unused');
    const [r] = await A.reconcile([sa]);
    expect(r!.error?.message).toMatch(/^netns: namespace "vt-.*" is this node's own; visp never builds in it$/);
    expect(names(u.a)).toEqual(before);
  });

  it('refuses a namespace visp did not create, and leaves it exactly as it was', async () => {
    const foreign = makeNetns('nofor');
    ipIn(foreign, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'theirs');
    const before = { links: names(foreign), alias: loAlias(foreign) };
    const [sa] = link('s3', 7403, foreign, 'unused');
    const [r] = await A.reconcile([sa]);
    expect(r!.error?.message).toMatch(/exists and was not created by visp for this slice; visp never touches a namespace it did not create/);
    expect({ links: names(foreign), alias: loAlias(foreign) }).toEqual(before);
    // A dry run (Operator.Plan) says the same.
    expect((await A.reconcile([sa], { dryRun: true }))[0]!.error?.message).toMatch(/not created by visp/);
    // A teardown naming it does not touch it either.
    const t = await A.teardownSlice({ slice: 's3', group: 7403, namespaces: [foreign] });
    expect(t).toEqual({ deleted: [], untouched: [expect.stringMatching(/not created by visp/)] });
    expect({ links: names(foreign), alias: loAlias(foreign) }).toEqual(before);
  });

  it("refuses another slice's namespace without naming that slice; that slice's link is not touched", async () => {
    const [xa, xb] = [fresh('oa'), fresh('ob')];
    const [va, vb] = link('victim-7', 7404, xa, xb);
    ok(await A.reconcile([va]));
    ok(await B.reconcile([vb]));
    const before = names(xa);
    const [ma] = link('mallory', 7405, xa, xb);
    const [r] = await A.reconcile([ma]);
    expect(r!.error?.message).toBe(`netns: namespace "${xa}" is taken by another slice`);
    expect(r!.error?.message).not.toContain('victim');
    expect(names(xa)).toEqual(before);
    // Both in one desired state (the collision the old names made): the first claimant keeps it, the other is refused.
    const both = await A.reconcile([va, ma]);
    expect(both.map((x) => x.error?.message)).toEqual([undefined, `netns: namespace "${xa}" is taken by another slice`]);
    // The same slice name with another group (an earlier slice of that name) is refused too, and may be named.
    const [again] = link('victim-7', 7499, xa, xb);
    expect((await A.reconcile([again]))[0]!.error?.message).toMatch(/created for an earlier slice "victim-7" \(group 7404, this one is 7499\); delete it/);
    // Mallory's teardown naming the namespace leaves it and the victim's link as they were.
    expect(await A.teardownSlice({ slice: 'mallory', group: 7405, namespaces: [xa] })).toEqual({ deleted: [], untouched: [`namespace "${xa}" is taken by another slice`] });
    expect(names(xa)).toEqual(before);
    expect(ping(xa, vb.addresses[0]!.split('/')[0]!)).toBe(true);
    // The victim's own teardown deletes its namespace.
    expect(await A.teardownSlice({ slice: 'victim-7', group: 7404, namespaces: [xa] })).toEqual({ deleted: [xa], untouched: [] });
    expect(sh('ip', ['netns', 'list'])).not.toContain(xa);
  });

  it('reports as reserved the node\'s own namespace and every namespace without a visp mark, not the slices\' own', async () => {
    const [xa, xb] = [fresh('ra'), fresh('rb')];
    const [sa] = link('s6', 7406, xa, xb);
    ok(await A.reconcile([sa]));
    const foreign = makeNetns('noresv');
    const reserved = await A.reservedNamespaces();
    expect(reserved).toEqual(expect.arrayContaining([u.a, u.b, foreign]));
    expect(reserved).not.toContain(xa);
    // A namespace marked after it was first seen is read again only when it is a new namespace of that name.
    delNetns(foreign);
    expect(await A.reservedNamespaces()).not.toContain(foreign);
  });

  describe("the experimenter's own addresses, routes and interfaces", () => {
    const theirs = (ns: string): void => {
      ipIn(ns, 'addr', 'add', '198.51.100.7/24', 'dev', 'eth1');
      ipIn(ns, '-6', 'addr', 'add', '2001:db8:77::7/128', 'dev', 'eth1', 'nodad');
      ipIn(ns, 'route', 'add', '203.0.113.0/24', 'via', '198.51.100.1', 'dev', 'eth1');
      ipIn(ns, '-6', 'route', 'add', '2001:db8:99::/48', 'dev', 'eth1');
      ipIn(ns, 'link', 'add', 'mine0', 'type', 'veth', 'peer', 'name', 'mine1');
      ipIn(ns, 'addr', 'add', '192.0.2.250/32', 'dev', 'mine0');
    };
    const survived = (ns: string): string[] => {
      const missing: string[] = [];
      const a4 = ipIn(ns, '-4', 'addr', 'show', 'dev', 'eth1'), a6 = ipIn(ns, '-6', 'addr', 'show', 'dev', 'eth1');
      if (!a4.includes('198.51.100.7/24')) missing.push('198.51.100.7/24');
      if (!a6.includes('2001:db8:77::7/128')) missing.push('2001:db8:77::7/128');
      if (!ipIn(ns, 'route', 'show', '203.0.113.0/24').includes('via 198.51.100.1 dev eth1')) missing.push('route 203.0.113.0/24');
      if (!ipIn(ns, '-6', 'route', 'show', '2001:db8:99::/48').includes('dev eth1')) missing.push('route 2001:db8:99::/48');
      if (!ipIn(ns, 'addr', 'show', 'dev', 'mine0').includes('192.0.2.250/32')) missing.push('interface mine0 and its address');
      return missing;
    };

    it.each(['vxlan', 'gre'] as const)('%s: survive reconcile, agent restart and link restart', async (kind) => {
      const [xa, xb] = [fresh(`ea${kind}`), fresh(`eb${kind}`)];
      const [sa, sb] = link(`exp-${kind}`, 7410 + (kind === 'gre' ? 1 : 0), xa, xb, kind);
      ok(await A.reconcile([sa]));
      ok(await B.reconcile([sb]));
      theirs(xa);
      const peer = sb.addresses[0]!.split('/')[0]!;

      // A reconcile (the agent runs one every 2 s): nothing to do, nothing of theirs removed.
      expect(ok(await A.reconcile([sa]))[0]!.steps).toEqual([]);
      expect(survived(xa)).toEqual([]);

      // An agent restart: a fresh NodeKernel adopts what is there, and plans nothing.
      A.close();
      A = new NodeKernel({ netns: u.a, namespaces: 'owned', engine: { runDir } });
      expect(ok(await A.reconcile([sa]))[0]!.steps).toEqual([]);
      expect(survived(xa)).toEqual([]);

      // A link restart: visp's objects are rebuilt; theirs are still there (put back, on layer 3) and the link works.
      const ifindex = ipLink(xa, 'eth1').ifindex as number;
      const removed = await A.restartEndpoint(sa);
      expect(removed.length).toBeGreaterThan(0);
      const rebuilt = ok(await A.reconcile([{ ...sa }]))[0]!;
      expect(rebuilt.steps.join('\n')).toMatch(kind === 'vxlan' ? /create vxlan/ : /create (userspace )?gre/);
      expect(survived(xa)).toEqual([]);
      if (kind === 'vxlan') expect(ipLink(xa, 'eth1').ifindex, 'layer 2: the experiment interface itself stays').toBe(ifindex);
      expect(ping(xa, peer)).toBe(true);
      expect(ok(await A.reconcile([sa]))[0]!.steps).toEqual([]);
      expect(vispLinks(xa)).toEqual(['eth1']);
    });
  });
});
