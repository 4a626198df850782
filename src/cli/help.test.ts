// The command line as a person meets it: run `visp …` and read what it says.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

interface Run { code: number | null; stdout: string; stderr: string }

function visp(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VISP_CONTROLLER: '' } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every command `visp` knows, as it lists them for an unknown one. */
let commands: string[] = [];
let global: Run;
beforeAll(async () => {
  const unknown = await visp('nosuch');
  expect(unknown.code).toBe(2);
  commands = /\(commands: ([^;]+);/.exec(unknown.stderr)![1]!.split(', ');
  global = await visp('--help');
});

describe('visp help', () => {
  it('visp alone prints the overview to stderr and exits 2', async () => {
    const r = await visp();
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^visp — virtual ISPs for network testbeds\n\nusage: visp COMMAND \[flags\]/);
  });

  it('visp --help, -h and help print it to stdout and exit 0; every command is in it', async () => {
    expect(global.code).toBe(0);
    expect(global.stderr).toBe('');
    for (const r of [await visp('help'), await visp('-h')]) expect(r).toEqual(global);
    expect(commands).toContain('certs');
    for (const c of commands) expect(global.stdout, `command ${c} in the overview`).toMatch(new RegExp(`^  ${c}[ |]`, 'm'));
    expect(global.stdout).toContain('  certs ca|issue|request|sign|show …   testbed CA and certificates (visp certs --help)');
  });

  it('each command\'s --help prints its own usage and flags, exit 0', async () => {
    const runs = await Promise.all(commands.map(async (c) => [c, await visp(c, '--help')] as const));
    for (const [c, r] of runs) {
      expect(r.code, `visp ${c} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout, `visp ${c} --help`).toMatch(new RegExp(`^usage: visp ${c}\\b`));
      expect(r.stdout, `visp ${c} --help is not the overview`).not.toContain('virtual ISPs for network testbeds');
    }
    const byName = new Map(runs);
    expect(byName.get('tunnels')!.stdout).toMatch(/\n  --state STATE +only tunnels in STATE: pending, configuring, ready, degraded, down, failed, stopped\n/);
    expect(byName.get('controller')!.stdout).toMatch(/--config FILE[\s\S]*--plaintext-identity URI[\s\S]*--lab /);
    expect(byName.get('agent')!.stdout).toMatch(/--underlay ADDR,…[\s\S]*--plaintext [\s\S]*--reconcile-interval DURATION/);
    expect(byName.get('lab')!.stdout).toMatch(/^usage: visp lab up\|down\|status\|agents\|restart-agents …\n[\s\S]*\n  up FILE +emulated underlay/);
    expect(byName.get('egress')!.stdout).toMatch(/\n  set NODE +make NODE an egress node[\s\S]*\n  remove NODE +stop egress/);
  });

  it('subcommands have their own help; -h and "visp help CMD" say the same', async () => {
    const [up, set, h, viaHelp, plain] = await Promise.all([
      visp('lab', 'up', '--help'), visp('egress', 'set', '--help'), visp('plan', '-h'), visp('help', 'plan'), visp('plan', '--help'),
    ]);
    expect(up).toMatchObject({ code: 0 });
    expect(up.stdout).toMatch(/^usage: visp lab up FILE \[flags\]\n[\s\S]*--start-timeout DURATION/);
    expect(set.stdout).toMatch(/^usage: visp egress set NODE \[flags\]\n[\s\S]*--provider ADDR,ASN\[,password=P\]/);
    expect(h).toEqual(plain);
    expect(viaHelp).toEqual(plain);
    expect(plain.stdout).toMatch(/^usage: visp plan FILE \[flags\]\n\nwhat a topology file would change/);
  });

  it('a flag mistake is one line naming the flag, exit 2', async () => {
    const r = await visp('tunnels', '--nod', 'x');
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe('visp: tunnels: unknown flag --nod (flags: --controller, --json, --node, --slice, --state)\n');
  });
});

describe('visp controller / agent refuse a setup without TLS before starting anything', () => {
  it('controller', async () => {
    const r = await visp('controller', '--listen', '127.0.0.1:0', '--store', ':memory:');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe('visp: listen: 127.0.0.1:0 needs TLS: give --tls-ca, --tls-cert, --tls-key\n');
  });
  it('agent', async () => {
    const r = await visp('agent', '--controller', '127.0.0.1:7443', '--node', 'n1');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toBe('visp: TLS is required to reach the controller at 127.0.0.1:7443: give --tls-ca, --tls-cert, --tls-key\n');
  });
  it('a config file that is not there', async () => {
    const r = await visp('agent', '--config', '/nonexistent/agent.yaml');
    expect(r.stderr).toBe('visp: /nonexistent/agent.yaml: no such file\n');
    expect(r.code).toBe(1);
  });
  it('a bad --reconcile-interval names the flag', async () => {
    const r = await visp('agent', '--controller', 'unix:/x', '--plaintext', '--node', 'n1', '--reconcile-interval', 'often');
    expect(r).toMatchObject({ code: 2, stderr: 'visp: flag --reconcile-interval: "often" is not a duration (e.g. 500ms, 2s, 15m, 8h, 2d)\n' });
  });
});
