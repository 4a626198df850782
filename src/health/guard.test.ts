// The probe guard on a real kernel, in a namespace of its own: the prober
// puts it in place, and puts it back when it is gone (a firewall reload's
// `nft flush ruleset`) or changed (a rule before its drops), and says so;
// and it drops probe-ethertype frames entering a bridge through visp's ports
// only, never on the node's other bridges (in testbed mode the agent's
// namespace is the host's).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureGuard, guardPresent } from './guard.js';
import { HealthProber, type ProbeTarget } from './prober.js';

const ns = `visp-guard-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const nft = (...args: string[]): string => execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8' });
const targets: ProbeTarget[] = [{ key: 's/l', local: '198.18.0.1', what: 'vxlan VNI 7', pairs: [{ remote: '198.18.0.2', device: 'absent0' }] }];

describe('probe guard', () => {
  beforeAll(() => { execFileSync('ip', ['netns', 'add', ns]); });
  afterAll(() => { execFileSync('ip', ['netns', 'del', ns]); });

  it('is put in place by the first pass, and back after a flush or a rule ahead of its drops, with an error that says so', async () => {
    expect(await guardPresent(ns)).toBe(false);
    const p = new HealthProber({ netns: ns, guardCheckMs: 0 });
    const errors: string[] = [];
    p.on('error', (e) => errors.push(e.message));
    try {
      await p.setTargets(targets);
      expect(await guardPresent(ns)).toBe(true);
      await p.setTargets(targets);
      expect(errors).toEqual([]);

      nft('flush', 'ruleset');
      expect(await guardPresent(ns)).toBe(false);
      await p.setTargets(targets);
      expect(await guardPresent(ns)).toBe(true);
      expect(errors).toEqual([expect.stringMatching(/probe guard .* was gone or changed; put back/)]);

      nft('insert', 'rule', 'bridge', 'visp_health', 'prerouting', 'accept');
      expect(await guardPresent(ns)).toBe(false);
      await p.setTargets(targets);
      expect(await guardPresent(ns)).toBe(true);
      expect(errors).toHaveLength(2);
    } finally {
      p.close();
    }
  });
  it('is checked when the rule set changes, not on every pass: a flush is put back without a pass, and passes meanwhile run no nft', async () => {
    nft('flush', 'ruleset');
    const p = new HealthProber({ netns: ns });
    const errors: string[] = [];
    p.on('error', (e) => errors.push(e.message));
    try {
      await p.setTargets(targets);
      expect(p.guardStats).toEqual({ checks: 0, installs: 1 });
      // Passes with nothing changed: no check (each would be an nft process).
      for (let i = 0; i < 5; i++) await p.setTargets(targets);
      await new Promise((r) => setTimeout(r, 300));
      expect(p.guardStats).toEqual({ checks: 0, installs: 1 });
      // A firewall reload: seen by its notification, checked and put back with no pass.
      nft('flush', 'ruleset');
      const until = Date.now() + 5000;
      while (!(await guardPresent(ns)) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(await guardPresent(ns)).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(errors).toEqual([expect.stringMatching(/probe guard .* was gone or changed; put back/)]);
      // The repair's own notifications are not a change: one check (the flush's), one more install.
      expect(p.guardStats).toEqual({ checks: 1, installs: 2 });
    } finally {
      p.close();
    }
  });
  it('drops probe-ethertype frames that enter a bridge through a visp port, and lets those from any other port through (the host\'s own bridges)', () => {
    const ip = (...a: string[]): void => { execFileSync('ip', ['-n', ns, ...a]); };
    // One bridge, three ports: a visp-named tunnel-like port, a foreign port, and
    // a listener port; frames are sent into the first two from their veth peers.
    ip('link', 'add', 'brg', 'type', 'bridge');
    for (const [port, peer] of [['vtguard0', 'sv0'], ['eth9', 'sf0'], ['lport0', 'ls0']] as const) {
      ip('link', 'add', port, 'type', 'veth', 'peer', 'name', peer);
      ip('link', 'set', port, 'master', 'brg', 'up');
      ip('link', 'set', peer, 'up');
    }
    ip('link', 'set', 'brg', 'up');
    return ensureGuard(ns).then(() => {
      // Send one frame of the probe ethertype (flooded: unknown destination) from each
      // sender and count what reaches the listener.
      const py = [
        'import socket, sys, time',
        'r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88b5)); r.bind(("ls0", 0)); r.settimeout(0.3)',
        'frame = bytes.fromhex("020000000099") + bytes.fromhex("020000000001") + bytes.fromhex("88b5") + b"x" * 60',
        'seen = {}',
        'for dev in sys.argv[1:]:',
        '  s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((dev, 0)); s.send(frame)',
        '  n = 0',
        '  try:',
        '    while True: r.recv(2048); n += 1',
        '  except socket.timeout: pass',
        '  seen[dev] = n',
        'print(seen)',
      ].join('\n');
      const out = execFileSync('ip', ['netns', 'exec', ns, 'python3', '-c', py, 'sv0', 'sf0'], { encoding: 'utf8' });
      expect(out.trim()).toBe("{'sv0': 0, 'sf0': 1}");
    });
  });
});

