// docs/deploy.md, then docs/security.md, run as written: every command and
// configuration file in them, in order, on four sandboxed hosts
// (test/docs/sandbox.ts; the conventions are at the top of docs/deploy.md).
// The guide's own commands fail the test when they fail (a ping that gets no
// answer, an AM whose slice is not READY); the checks below look at what they
// cannot show: the systemd units verify, each link end is READY where it
// should be and carried by what it should be, the audit log names the
// certificates' identities, the engine is adopted across an agent restart,
// Delete leaves no interface, namespace or XDP program behind, retiring a
// node stops its engine and gobgpd, a rotated certificate is served while
// the agents' streams stay up.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cmdline } from '../../src/proc.js';
import { delNetns, ipIn, kernelSkipReason } from '../helpers/netns.js';
import { isExcerpt, parseGuide, type Step } from './markdown.js';
import { REPO, Sandbox } from './sandbox.js';

const HOSTS = [
  { name: 'ctl', address: '198.18.0.1' },
  { name: 'n1', address: '198.18.0.2' },
  { name: 'n2', address: '198.18.0.3' },
  { name: 'e1', address: '198.18.0.4' },
];
const GUIDES = (process.env.DOCTEST_GUIDES ?? 'docs/deploy.md,docs/security.md').split(',');
/** The blocks the guides show but the test does not run, by their first line: keep this list short. */
const NOT_RUN = [
  'docs/deploy.md: git clone "$VISP_REPOSITORY" /opt/visp        # your copy of visp\'s repository',
  'docs/deploy.md: cd /opt/visp && git pull && bash scripts/setup.sh',
  'docs/deploy.md: visp events',
  // Section 14 (several controllers on etcd) needs three more hosts with Debian's etcd service; test/ha/ha.test.ts and test/store/copy.test.ts run the same.
  'docs/deploy.md: # on the CA host',
  'docs/deploy.md: # on c1, then c2 and c3 with their own name and address',
  'docs/deploy.md: # on ctl',
  'docs/deploy.md: # on c1, c2, c3: /etc/visp/controller.yaml',
  'docs/deploy.md: # on n1, n2, e1: /etc/visp/agent.yaml',
];
const SLICE = 'exp1';
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
  useradd: 'passwd', ping: 'iputils-ping', ip: 'iproute2',
};
const missing = Object.entries(NEEDED).filter(([cmd]) => !['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, cmd))));
const walkSkipReason = kernelSkipReason ?? (missing.length ? `the deployment guide needs ${missing.map(([c, p]) => `${c} (Debian package ${p})`).join(', ')}` : undefined);
if (walkSkipReason && !kernelSkipReason) console.warn(`SKIP: ${walkSkipReason}`);

describe.skipIf(walkSkipReason)('docs/deploy.md and docs/security.md, run on four hosts', () => {
  const sb = new Sandbox();
  const ran: string[] = [];
  let lastEngine: number | undefined;
  let connectsBeforeRotation = 0;

  afterAll(async () => {
    await sb.close();
    // The slice's namespaces, if a failure left them (the guide's slice name is this test's alone).
    for (const ns of readdirSync('/run/netns').filter((n) => n.startsWith(`visp-${SLICE}:`))) delNetns(ns);
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
  const sliceReady = async (): Promise<boolean> => {
    const { tunnels } = await json<TunnelJson>('ctl', `visp tunnels --slice ${SLICE} --json`);
    return tunnels.length === 4 && tunnels.every((t) => t.state === 'OPERATIONAL_STATE_READY');
  };

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
      await within('the restored slice READY on both nodes', sliceReady, 60_000);
    },
    'engine-noted': async () => {
      const e = engines('n1');
      expect(e).toHaveLength(1);
      lastEngine = e[0];
    },
    /** The restarted agent adopted the engine: same process, no second one. */
    'engine-adopted': async () => {
      await within('the slice READY after the agent restart', sliceReady, 60_000);
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
    /** n2's engine and e1's gobgpd are gone, and no agent runs there. */
    retired: async () => {
      expect(engines('n2')).toEqual([]);
      expect(daemons('e1', /(^|\/)gobgpd$/)).toEqual([]);
      for (const h of ['n2', 'e1']) expect(daemons(h, /^agent$/), h).toEqual([]);
      expect(daemons('n1', /^agent$/)).toHaveLength(1);
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
  };

  it('runs every block, on its hosts, in order', async () => {
    const stale = readdirSync('/run/netns').filter((n) => n.startsWith(`visp-${SLICE}:`));
    if (stale.length) throw new Error(`namespaces ${stale.join(', ')} exist already (another run of this test?); not touching them`);
    await sb.start(HOSTS);
    const steps = GUIDES.flatMap((f) => guide(f).map((s) => ({ ...s, file: f })));
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
    for (const p of ['/etc/visp', '/var/lib/visp', '/var/log/visp', '/var/backups/visp', '/usr/local/bin/visp', '/opt/visp', '/etc/systemd/system/visp-agent.service']) {
      expect(existsSync(p), p).toBe(false);
    }
  }, 20 * 60_000);
});
