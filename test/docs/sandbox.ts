// Hosts for running a deployment guide's commands as written, on one machine.
// Each "host" is a network namespace (eth0 on one underlay bridge, addresses
// from 198.18.0.0/24) and a mount and UTS namespace of its own (hostname set):
//   /etc, /var, /usr/local, /opt, /root   overlays whose writes land in the
//                                         test's temp dir (the real ones are
//                                         never written)
//   /run/visp                             a temp dir of the host's
//   /sys                                  the host's network namespace's sysfs
//   /opt/visp                             this checkout, read-only
//   /usr/local/bin/visp                   runs this checkout (test/docs/visp-entry.ts)
//   /usr/local/sbin/{systemctl,journalctl,scp}  the shims (shims/shim.mjs)
// /run/netns stays shared with the machine, so the namespaces the agents
// make (as `ip netns add` does) are real ones. Commands run in one bash per host
// (cd, exports and functions carry over from block to block, as in an
// operator's terminal), under `set -e -o pipefail`. close() kills every
// process in the hosts' network namespaces and removes everything.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { delNetns, ipIn, makeNetns } from '../helpers/netns.js';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SHIM = fileURLToPath(new URL('./shims/shim.mjs', import.meta.url));
const ENTRY = fileURLToPath(new URL('./visp-entry.ts', import.meta.url));
const TSX = join(REPO, 'node_modules/tsx/dist/loader.mjs');
const OVERLAYS = [['/etc', 'etc'], ['/var', 'var'], ['/usr/local', 'usr-local'], ['/opt', 'opt'], ['/root', 'root']] as const;
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DONE = '__DOCTEST_DONE__';

export interface HostSpec { name: string; address: string }

export interface Host extends HostSpec {
  netns: string;
  /** Where this host's files live on the real machine. */
  dir: string;
  holder: ChildProcess;
  shell: ChildProcess;
  /** Output of the shell not yet claimed by a block. */
  buffer: string;
  /** The overlay's upper directory for a real path (a file the host wrote under /etc, /var, …). */
  file(path: string): string;
}

export class Sandbox {
  /** The sandbox's files on the machine (made by start()). */
  dir = '';
  readonly hosts = new Map<string, Host>();
  private hub = '';
  private madeRunVisp = false;
  private blocks = 0;

  async start(specs: readonly HostSpec[]): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'visp-doctest-'));
    this.hub = makeNetns('dochub');
    ipIn(this.hub, 'link', 'add', 'br0', 'type', 'bridge');
    ipIn(this.hub, 'link', 'set', 'br0', 'up');
    // The mount point for each host's /run/visp (visp's own directory; lab mode makes it too).
    if (!existsSync('/run/visp')) { mkdirSync('/run/visp'); this.madeRunVisp = true; }
    for (const [i, s] of specs.entries()) this.hosts.set(s.name, await this.startHost(s, i));
    writeFileSync(join(this.dir, 'hosts.json'), JSON.stringify(Object.fromEntries([...this.hosts].map(([n, h]) => [n, { holder: h.holder.pid, netns: h.netns }]))));
    // The machine's own directories must not have changed.
    for (const p of ['/etc/visp', '/var/lib/visp', '/var/log/visp', '/usr/local/bin/visp', '/opt/visp']) {
      if (existsSync(p)) throw new Error(`sandbox leak: ${p} exists on the machine`);
    }
  }

  private async startHost(s: HostSpec, i: number): Promise<Host> {
    const netns = makeNetns(`doc${s.name}`);
    const port = `dp${i}-${s.name}`.slice(0, 15);
    ipIn(this.hub, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    ipIn(this.hub, 'link', 'set', port, 'master', 'br0', 'up');
    ipIn(netns, 'addr', 'add', `${s.address}/24`, 'dev', 'eth0');
    ipIn(netns, 'link', 'set', 'eth0', 'up');
    const dir = join(this.dir, 'hosts', s.name);
    for (const [, n] of OVERLAYS) for (const d of ['upper', 'work']) mkdirSync(join(dir, 'ov', n, d), { recursive: true });
    mkdirSync(join(dir, 'run-visp'), { recursive: true });
    const setup = [
      'set -e',
      // Mounts made here must never reach the machine: make the mounts they land on private (here only).
      'priv() { mount --make-private "$(findmnt -n -o TARGET --target "$1")"; }',
      ...OVERLAYS.map(([t, n]) => `priv ${t}; mount -t overlay overlay -o lowerdir=${t},upperdir=${dir}/ov/${n}/upper,workdir=${dir}/ov/${n}/work ${t}`),
      `priv /run/visp; mount --bind ${dir}/run-visp /run/visp`,
      'priv /sys; mount -t sysfs sysfs /sys',
      `mkdir -p /opt/visp; mount --bind ${REPO} /opt/visp; mount -o remount,bind,ro /opt/visp`,
      'mkdir -p /usr/local/bin /usr/local/sbin',
      `printf '#!/bin/sh\\nexec ${process.execPath} --import ${TSX} ${ENTRY} "$@"\\n' > /usr/local/bin/visp; chmod 755 /usr/local/bin/visp`,
      ...['systemctl', 'journalctl', 'scp'].map((c) => `printf '#!/bin/sh\\nexec ${process.execPath} ${SHIM} ${c} "$@"\\n' > /usr/local/sbin/${c}; chmod 755 /usr/local/sbin/${c}`),
      `hostname ${s.name}`,
      'echo ready',
      'exec sleep infinity',
    ].join('\n');
    const holder = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', 'unshare', '--mount', '--uts', '--propagation', 'unchanged', '--', 'sh', '-c', setup], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    holder.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
      holder.once('exit', (code) => reject(new Error(`host ${s.name}: setup failed (${code}): ${err}`)));
    });
    const shell = spawn('nsenter', [`--net=/run/netns/${netns}`, `--mount=/proc/${holder.pid}/ns/mnt`, `--uts=/proc/${holder.pid}/ns/uts`, '--',
      'env', '-i', `PATH=${PATH}`, 'HOME=/root', 'LANG=C.UTF-8', 'TERM=dumb', `DOCTEST_HOST=${s.name}`, `DOCTEST_DIR=${dir}`,
      `DOCTEST_HOSTS=${join(this.dir, 'hosts.json')}`, 'bash', '--noprofile', '--norc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const host: Host = {
      ...s, netns, dir, holder, shell, buffer: '',
      file: (path: string) => {
        const o = OVERLAYS.find(([t]) => path === t || path.startsWith(`${t}/`));
        if (o) return join(dir, 'ov', o[1], 'upper', path.slice(o[0].length));
        if (path.startsWith('/run/visp/')) return join(dir, 'run-visp', path.slice('/run/visp/'.length));
        throw new Error(`${path} is not a sandboxed path`);
      },
    };
    const collect = (d: Buffer): void => { host.buffer += d.toString(); };
    shell.stdout!.on('data', collect);
    shell.stderr!.on('data', collect);
    shell.stdin!.write('set -e -o pipefail; umask 022; cd /root\n');
    return host;
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name} (hosts: ${[...this.hosts.keys()].join(', ')})`);
    return h;
  }

  /**
   * Run a script in the host's shell; resolves with its output (commands
   * echoed with "+ "), rejects with the output when a command fails (the
   * shell is then gone) or after `timeoutMs`.
   */
  run(name: string, script: string, timeoutMs = 180_000, trace = true): Promise<string> {
    const h = this.host(name);
    const file = join(this.dir, 'blocks', `${String(++this.blocks).padStart(3, '0')}-${name}.sh`);
    mkdirSync(join(this.dir, 'blocks'), { recursive: true });
    writeFileSync(file, trace ? `PS4='+ '; set -x\n${script}\n{ set +x; } 2>/dev/null\n` : `${script}\n`);
    h.buffer = '';
    return new Promise((resolve, reject) => {
      if (h.shell.exitCode !== null) { reject(new Error(`host ${name}: its shell is gone (an earlier command failed)`)); return; }
      const done = (fn: () => void): void => { clearInterval(poll); clearTimeout(timer); h.shell.off('exit', onExit); fn(); };
      const onExit = (code: number | null): void => done(() => reject(new Error(`on ${name}: failed (exit status ${code}):\n${h.buffer}`)));
      const poll = setInterval(() => {
        const at = h.buffer.indexOf(DONE);
        if (at >= 0) { const out = h.buffer.slice(0, at); h.buffer = ''; done(() => resolve(out)); }
      }, 20);
      const timer = setTimeout(() => done(() => reject(new Error(`on ${name}: timed out after ${timeoutMs} ms:\n${h.buffer}`))), timeoutMs);
      h.shell.once('exit', onExit);
      h.shell.stdin!.write(`source ${file}\necho ${DONE}\n`);
    });
  }

  /** Run a command on a host without failing its shell: true when it exits 0. */
  async succeeds(name: string, command: string): Promise<boolean> {
    const out = await this.run(name, `if ( ${command} ) >/dev/null 2>&1; then echo __OK__; else echo __NO__; fi`, 60_000, false);
    return out.includes('__OK__');
  }

  /** Pids of the processes in a host's network namespace. */
  processes(name: string): number[] {
    const h = this.host(name);
    let inode: string;
    try { inode = readlinkSync(`/proc/${h.holder.pid}/ns/net`); } catch { return []; }
    return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).filter((pid) => {
      try { return readlinkSync(`/proc/${pid}/ns/net`) === inode; } catch { return false; }
    });
  }

  async close(): Promise<void> {
    for (const name of this.hosts.keys()) {
      for (const pid of this.processes(name)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const h of this.hosts.values()) delNetns(h.netns);
    if (this.hub) delNetns(this.hub);
    if (this.madeRunVisp) { try { rmdirSync('/run/visp'); } catch { /* in use by a lab meanwhile */ } }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
