// docs/deploy.md, then docs/security.md, run as written: every command and
// configuration file in them, in order, on seven sandboxed hosts
// (test/docs/sandbox.ts; the conventions are at the top of docs/deploy.md).
// deploy.md's last section (several controllers on etcd, hosts c1–c3) runs
// last, after security.md, whose blocks need the one controller on ctl.
// The guide's own commands fail the test when they fail (a ping that gets no
// answer, an AM whose slice is not READY); the checks below look at what they
// cannot show: the systemd units verify, each link end is READY where it
// should be and carried by what it should be, the audit log names the
// certificates' identities, the engine is adopted across an agent restart,
// Delete leaves no interface, namespace or XDP program behind, retiring a
// node stops its gobgpd, a rotated certificate is served while the agents'
// streams stay up; on etcd, a slice moved from SQLite is READY through every
// controller without a rebuild on its nodes, exactly one controller leads,
// and killing it makes another lead (the time it took is printed).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cmdline } from '../../src/proc.js';
import { delNetns, ipIn, kernelSkipReason } from '../helpers/netns.js';
import { ping } from '../helpers/nodes.js';
import { isExcerpt, parseGuide, type Step } from './markdown.js';
import { REPO, Sandbox } from './sandbox.js';

const HOSTS = [
  { name: 'ctl', address: '198.18.0.1' },
  { name: 'n1', address: '198.18.0.2' },
  { name: 'n2', address: '198.18.0.3' },
  { name: 'e1', address: '198.18.0.4' },
  { name: 'c1', address: '198.18.0.11' },
  { name: 'c2', address: '198.18.0.12' },
  { name: 'c3', address: '198.18.0.13' },
];
const CONTROLLERS = ['c1', 'c2', 'c3'] as const;
const GUIDES = (process.env.DOCTEST_GUIDES ?? 'docs/deploy.md,docs/security.md').split(',');
/** The blocks the guides show but the test does not run, by their first line: keep this list short. */
const NOT_RUN = [
  'docs/deploy.md: git clone "$VISP_REPOSITORY" /opt/visp        # your copy of visp\'s repository',
  'docs/deploy.md: cd /opt/visp && git pull && bash scripts/setup.sh',
  'docs/deploy.md: visp events',
];
/** The heading of deploy.md's section that runs after security.md (it takes the controller on ctl away). */
const LAST_SECTION = '## 14. Several controllers on etcd';
const SLICE = 'exp1';
/** Section 14's slice (examples/deploy-exp2.yaml). */
const SLICE2 = 'exp2';
/** The experiment namespace visp names after a router (src/controller/place.ts defaultNetns). */
const netnsOfRouter = (r: string): string => `visp-${SLICE}:${r}`;

const guide = (file: string): Step[] => parseGuide(readFileSync(join(REPO, file), 'utf8'), file);

describe('the guides are all marked: every block runs, or is output, or is listed as not run', () => {
  it('parses, and the blocks not run are exactly the known few', () => {
    const notRun = GUIDES.flatMap((f) => guide(f).filter((s) => s.kind === 'not-run').map((s) => `${f}: ${s.text.split('\n')[0]}`));
    console.log(`not run:\n  ${notRun.join('\n  ')}`);
    expect(notRun).toEqual(NOT_RUN);
    for (const f of GUIDES) {
      for (const s of guide(f)) if (s.kind === 'excerpt') expect(isExcerpt(s.text, readFileSync(join(REPO, s.of), 'utf8')), `${f}:${s.line}: not an excerpt of ${s.of}`).toBe(true);
    }
  });

  it('src/cli/main.ts registers `visp backup` and `visp retire` (the guide uses both)', () => {
    const main = readFileSync(join(REPO, 'src/cli/main.ts'), 'utf8');
    expect(main).toMatch(/^\s*backup: async \(\) => \(await import\('\.\/backup\.js'\)\)\.backupCmd,/m);
    expect(main).toMatch(/^\s*retire: async \(\) => \(await import\('\.\/retire\.js'\)\)\.retireCmd,/m);
  });
});

/** What the guides and the sandbox run, and the Debian package each comes from (scripts/setup.sh installs them). */
const NEEDED: Record<string, string> = {
  gobgpd: 'gobgpd', openssl: 'openssl', setpriv: 'util-linux', prlimit: 'util-linux', unshare: 'util-linux', nsenter: 'util-linux',
  useradd: 'passwd', ping: 'iputils-ping', ip: 'iproute2', etcd: 'etcd-server', etcdctl: 'etcd-client',
};
const missing = Object.entries(NEEDED).filter(([cmd]) => !['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, cmd))));
const walkSkipReason = kernelSkipReason ?? (missing.length ? `the deployment guide needs ${missing.map(([c, p]) => `${c} (Debian package ${p})`).join(', ')}` : undefined);
if (walkSkipReason && !kernelSkipReason) console.warn(`SKIP: ${walkSkipReason}`);

describe.skipIf(walkSkipReason)('docs/deploy.md and docs/security.md, run on seven hosts', () => {
  const sb = new Sandbox();
  const ran: string[] = [];
  let lastEngine: number | undefined;
  let connectsBeforeRotation = 0;

  afterAll(async () => {
    await sb.close();
    // The slice's namespaces, if a failure left them (the guide's slice name is this test's alone).
    for (const ns of readdirSync('/run/netns').filter((n) => n.startsWith(`visp-${SLICE}:`) || n.startsWith(`visp-${SLICE2}:`))) delNetns(ns);
  });

  /** A command's output on a host, without the command trace; fails the test when it fails. */
  const out = (host: string, cmd: string): Promise<string> => sb.run(host, cmd, 60_000, false);
  const json = async <T>(host: string, cmd: string): Promise<T> => JSON.parse(await out(host, cmd)) as T;
  const netnsOf = (host: string): string => sb.host(host).netns;
  const daemons = (host: string, re: RegExp): number[] => sb.processes(host).filter((p) => re.test(cmdline(p)?.[0] ?? '') || (cmdline(p) ?? []).some((a, i, all) => /(^|\/)main\.ts$|visp-entry\.ts$/.test(a) && re.test(all[i + 1] ?? '')));
  const engines = (host: string): number[] => sb.processes(host).filter((p) => /(^|\/)visp-engine$/.test(cmdline(p)?.[0] ?? ''));
  const within = async (what: string, ok: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  interface TunnelJson { tunnels: Array<{ link: string; node: string; state: string; dataplane: string; local: string; netns: string }> }
  const sliceReady = async (slice = SLICE, host = 'ctl'): Promise<boolean> => {
    const { tunnels } = await json<TunnelJson>(host, `VISP_CONTROLLER=unix:/run/visp/controller.sock visp tunnels --slice ${slice} --json`);
    return tunnels.length === 4 && tunnels.every((t) => t.state === 'OPERATIONAL_STATE_READY');
  };
  /** What a rebuild would change on a node: the slice's interfaces (name and index, in the router's namespace) and the engine's pid. */
  const built = (host: string, router: string): string => JSON.stringify({
    links: (JSON.parse(ipIn(`visp-${SLICE2}:${router}`, '-j', 'link', 'show')) as Array<{ ifname: string; ifindex: number }>).map((l) => `${l.ifname}#${l.ifindex}`).sort(),
    engines: engines(host),
  });
  let beforeMove: Record<string, string> = {};
  /** Each controller host's lines of the election ("leader duties: …"), from its journal. */
  const leaderLines = (host: string): string[] => {
    const f = join(sb.host(host).dir, 'journal', 'visp-controller.service.log');
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l.includes('leader duties:')) : [];
  };
  /** The hosts whose controller leads now (its last election line says so), with the leading process's pid. */
  const leaders = (): Array<{ host: string; pid: number }> => CONTROLLERS.flatMap((h) => {
    const m = /this controller \([^@]*@[^:]*:(\d+)\) leads/.exec(leaderLines(h).at(-1) ?? '');
    return m && sb.processes(h).includes(Number(m[1])) ? [{ host: h, pid: Number(m[1]) }] : [];
  });

  const CHECKS: Record<string, () => Promise<void>> = {
    /** The units as installed are deploy/'s, and systemd-analyze finds nothing to say about them. */
    units: async () => {
      for (const [host, unit] of [['ctl', 'visp-controller'], ['n1', 'visp-agent']] as const) {
        expect(readFileSync(sb.host(host).file(`/etc/systemd/system/${unit}.service`), 'utf8')).toBe(readFileSync(join(REPO, `deploy/${unit}.service`), 'utf8'));
        if (!(await sb.succeeds(host, 'command -v systemd-analyze'))) {
          console.warn('SKIP: systemd-analyze is not installed (Debian package systemd): the units were not verified');
          continue;
        }
        const said = await out(host, `systemd-analyze verify /etc/systemd/system/${unit}.service 2>&1 && echo VERIFIED || echo FAILED`);
        expect(said.trim(), `systemd-analyze verify ${unit}`).toBe('VERIFIED');
      }
    },
    /** Four link ends READY, each on its node's underlay address, VXLAN in the kernel and EtherIP in visp-engine; the audit log has the certificates' identities. */
    'slice-ready': async () => {
      const { tunnels } = await json<TunnelJson>('ctl', `visp tunnels --slice ${SLICE} --json`);
      expect(tunnels.map((t) => [t.link, t.node, t.state, t.dataplane, t.local, t.netns]).sort()).toEqual([
        ['eip', 'n1', 'OPERATIONAL_STATE_READY', 'userspace', '198.18.0.2', netnsOfRouter('r1')],
        ['eip', 'n2', 'OPERATIONAL_STATE_READY', 'userspace', '198.18.0.3', netnsOfRouter('r2')],
        ['vx', 'n1', 'OPERATIONAL_STATE_READY', 'kernel', '198.18.0.2', netnsOfRouter('r1')],
        ['vx', 'n2', 'OPERATIONAL_STATE_READY', 'kernel', '198.18.0.3', netnsOfRouter('r2')],
      ]);
      const audit = readFileSync(sb.host('ctl').file('/var/log/visp/audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
      const td = 'spiffe://testbed.example.org';
      expect(audit.filter((a) => a.verb === 'Links.Allocate' && a.code === 'OK').map((a) => [a.identity, a.role, a.slice])).toEqual([[`${td}/am/geni-am`, 'am', SLICE]]);
      for (const n of ['n1', 'n2', 'e1']) expect(audit.some((a) => a.verb === 'Agent.Connect' && a.code === 'OK' && a.identity === `${td}/node/${n}` && a.node === n), n).toBe(true);
      expect(audit.some((a) => a.verb === 'Operator.SetEgressNode' && a.identity === `${td}/operator/local` && a.code === 'OK')).toBe(true);
    },
    /** The restored controller has the slice, and the reconnected agents report it READY again. */
    restored: async () => {
      await within('the restored slice READY on both nodes', () => sliceReady(), 60_000);
    },
    'engine-noted': async () => {
      const e = engines('n1');
      expect(e).toHaveLength(1);
      lastEngine = e[0];
    },
    /** The restarted agent adopted the engine: same process, no second one. */
    'engine-adopted': async () => {
      await within('the slice READY after the agent restart', () => sliceReady(), 60_000);
      expect(engines('n1')).toEqual([lastEngine]);
    },
    /** Nothing of the slice on the nodes: no namespace, no interface but lo and eth0, no XDP program on eth0. */
    'nothing-left': async () => {
      expect(readdirSync('/run/netns').filter((n) => n.startsWith(`visp-${SLICE}:`))).toEqual([]);
      for (const h of ['n1', 'n2']) {
        await within(`${h}: only lo and eth0`, () => {
          const links = JSON.parse(ipIn(netnsOf(h), '-d', '-j', 'link', 'show')) as Array<{ ifname: string; xdp?: unknown }>;
          return links.map((l) => l.ifname).sort().join(',') === 'eth0,lo' && !links.some((l) => l.xdp);
        }, 15_000);
      }
    },
    /** e1's gobgpd and engine are gone, and no agent runs there; n1's and n2's agents run on. */
    retired: async () => {
      expect(engines('e1')).toEqual([]);
      expect(daemons('e1', /(^|\/)gobgpd$/)).toEqual([]);
      expect(daemons('e1', /^agent$/)).toEqual([]);
      for (const h of ['n1', 'n2']) expect(daemons(h, /^agent$/), h).toHaveLength(1);
    },
    'before-rotation': async () => {
      connectsBeforeRotation = (await out('n1', 'journalctl -u visp-agent')).split('\n').filter((l) => /(^|[\s"])connected to /.test(l)).length;
      expect(connectsBeforeRotation).toBeGreaterThan(0);
    },
    /** After both rotations: the controller serves its new certificate, and n1's stream was never cut. */
    rotated: async () => {
      const served = await out('ctl', "(openssl s_client -connect 198.18.0.1:7443 </dev/null 2>/dev/null || true) | openssl x509 -noout -fingerprint -sha256");
      const onDisk = await out('ctl', 'openssl x509 -noout -fingerprint -sha256 -in /etc/visp/pki/controller.pem');
      expect(served.trim()).toBe(onDisk.trim());
      const connects = (await out('n1', 'journalctl -u visp-agent')).split('\n').filter((l) => /(^|[\s"])connected to /.test(l)).length;
      expect(connects).toBe(connectsBeforeRotation);
      const nodes = await json<{ nodes: Array<{ name: string; connected: boolean }> }>('ctl', 'visp nodes --json');
      expect(nodes.nodes.find((n) => n.name === 'n1')?.connected).toBe(true);
    },
    /** Section 14's slice, READY through ctl's controller on SQLite. */
    'exp2-ready': async () => {
      await within(`${SLICE2} READY`, () => sliceReady(SLICE2), 60_000);
    },
    /** What the nodes built for exp2, before their agents move to the controllers on etcd. */
    'before-move': async () => {
      beforeMove = { n1: built('n1', 'r1'), n2: built('n2', 'r2') };
      expect(engines('n1')).toHaveLength(1);
    },
    /** exp2 (copied from SQLite) READY through each of c1–c3; on the nodes nothing was rebuilt: same interfaces, same engine. */
    'ha-slice': async () => {
      for (const h of CONTROLLERS) await within(`${SLICE2} READY through ${h}`, () => sliceReady(SLICE2, h), 60_000);
      expect({ n1: built('n1', 'r1'), n2: built('n2', 'r2') }).toEqual(beforeMove);
      const slices = await json<{ slices: Array<{ slice: string }> }>('c3', 'VISP_CONTROLLER=unix:/run/visp/controller.sock visp slices --json');
      expect(slices.slices.map((s) => s.slice)).toEqual([SLICE2]);
    },
    /**
     * Exactly one controller leads; SIGKILL it: another leads, within 10 s
     * (the time is printed); exp2 is still READY through it; the agents that
     * were on the killed controller are on the others, and r1 still reaches r2
     * across both links.
     */
    'one-leader': async () => {
      await within('a leader', () => leaders().length > 0, 30_000);
      const [leader, ...more] = leaders();
      expect(more, 'more than one controller leads').toEqual([]);
      const t0 = Date.now();
      process.kill(leader!.pid, 'SIGKILL');
      await within('another leader', () => leaders().some((l) => l.host !== leader!.host), 10_000);
      const failoverMs = Date.now() - t0;
      console.log(`leader failover after SIGKILL of ${leader!.host}'s controller: ${(failoverMs / 1000).toFixed(2)} s`);
      const now = leaders();
      expect(now).toHaveLength(1);
      await within(`${SLICE2} READY through the new leader`, () => sliceReady(SLICE2, now[0]!.host), 30_000);
      const live = CONTROLLERS.filter((h) => h !== leader!.host);
      // Each agent's own word (its last "connected to ADDR"): on a controller left, and registered there (it reports, so every controller sees it).
      const liveAddresses = live.map((h) => `${sb.host(h).address}:7443`);
      const on = async (n: string): Promise<string | undefined> => [...(await out(n, 'journalctl -u visp-agent')).matchAll(/connected to (\S+) as /g)].at(-1)?.[1];
      await within('n1 and n2 on the controllers left', async () => {
        for (const n of ['n1', 'n2']) if (!liveAddresses.includes((await on(n)) ?? '')) return false;
        const nodes = await json<{ nodes: Array<{ name: string; connected: boolean }> }>(live[0]!, 'VISP_CONTROLLER=unix:/run/visp/controller.sock visp nodes --json');
        return ['n1', 'n2'].every((n) => nodes.nodes.some((x) => x.name === n && x.connected));
      }, 30_000);
      expect({ n1: built('n1', 'r1'), n2: built('n2', 'r2') }).toEqual(beforeMove);
      for (const to of ['198.51.100.66', '198.51.100.70']) expect(ping(`visp-${SLICE2}:r1`, to), `r1 → ${to}`).toBe(true);
    },
  };

  it('runs every block, on its hosts, in order', async () => {
    const stale = readdirSync('/run/netns').filter((n) => n.startsWith(`visp-${SLICE}:`));
    if (stale.length) throw new Error(`namespaces ${stale.join(', ')} exist already (another run of this test?); not touching them`);
    await sb.start(HOSTS);
    // deploy.md's last section runs after everything else (LAST_SECTION).
    const all = GUIDES.flatMap((f) => guide(f).map((s) => ({ ...s, file: f })));
    const lastAt = readFileSync(join(REPO, 'docs/deploy.md'), 'utf8').split('\n').indexOf(LAST_SECTION) + 1;
    expect(lastAt, `docs/deploy.md has no line "${LAST_SECTION}"`).toBeGreaterThan(0);
    const last = (s: { file: string; line: number }): boolean => s.file === 'docs/deploy.md' && s.line > lastAt;
    const steps = [...all.filter((s) => !last(s)), ...all.filter(last)];
    const checks = new Set<string>();
    for (const s of steps) {
      const where = `${s.file}:${s.line}`;
      try {
        switch (s.kind) {
          case 'sh':
            for (const h of s.hosts) ran.push(`${where} on ${h}:\n${await sb.run(h, s.text)}`);
            break;
          case 'file':
            for (const h of s.hosts) await sb.run(h, `mkdir -p "$(dirname ${s.path})"\ncat > ${s.path} <<'DOCTEST_EOF'\n${s.text}DOCTEST_EOF`, 10_000, false);
            break;
          case 'wait-for':
            for (const h of s.hosts) await within(`${h}: ${s.command}`, () => sb.succeeds(h, s.command), 90_000);
            break;
          case 'check': {
            const c = CHECKS[s.name];
            if (!c) throw new Error(`no check named ${s.name}`);
            await c();
            checks.add(s.name);
            break;
          }
          default:
            break;
        }
      } catch (e) {
        const journals = [...sb.hosts.values()].flatMap((h) => {
          const dir = join(h.dir, 'journal');
          return existsSync(dir) ? readdirSync(dir).map((f) => `--- ${h.name} ${f}\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-25).join('\n')}`) : [];
        });
        throw new Error(`${where}: ${(e as Error).message}\n\nlast blocks:\n${ran.slice(-3).join('\n')}\n\njournals:\n${journals.join('\n')}`);
      }
    }
    // DOCTEST_TRANSCRIPT=FILE: every block's output, to read what the guide's commands print.
    if (process.env.DOCTEST_TRANSCRIPT) (await import('node:fs')).writeFileSync(process.env.DOCTEST_TRANSCRIPT, ran.join('\n'));
    expect([...checks].sort()).toEqual(Object.keys(CHECKS).sort());
    // Nothing of the sandbox reached the machine.
    for (const p of ['/etc/visp', '/var/lib/visp', '/var/log/visp', '/var/backups/visp', '/usr/local/bin/visp', '/opt/visp', '/etc/systemd/system/visp-agent.service', '/etc/etcd', '/var/lib/etcd/default']) {
      expect(existsSync(p), p).toBe(false);
    }
  }, 20 * 60_000);
});
