// The docs test's sandbox keeps its promises: a host's writes to /etc, /var,
// /usr/local, /opt, /root and /run/visp never reach the machine; namespaces
// made with ip netns add do (they are real); each host has its hostname and
// address; the shims run a unit's ExecStart as its User= with only its
// CapabilityBoundingSet=, and scp copies between hosts.
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, sh } from '../helpers/netns.js';
import { Sandbox } from './sandbox.js';

describe.skipIf(kernelSkipReason)('docs sandbox', () => {
  const sb = new Sandbox();
  const ns = `vt-${process.env.VISP_TEST_RUN ?? 'x'}-sbx${process.pid}`;
  beforeAll(async () => { await sb.start([{ name: 'h1', address: '198.18.0.1' }, { name: 'h2', address: '198.18.0.2' }]); });
  afterAll(async () => {
    try { sh('ip', ['netns', 'del', ns]); } catch { /* not made */ }
    await sb.close();
  });

  it('keeps writes inside the host, but not network namespaces', async () => {
    const out = await sb.run('h1', [
      'hostname', 'mkdir -p /etc/visp /var/lib/visp /opt/x /root/x', 'echo hi > /etc/visp/probe', 'echo hi > /run/visp/probe',
      `ip netns add ${ns}`, 'ip -4 -o addr show dev eth0',
    ].join('\n'));
    expect(out).toMatch(/^h1$/m);
    expect(out).toContain('inet 198.18.0.1/24');
    for (const p of ['/etc/visp', '/var/lib/visp', '/opt/x', '/root/x', '/run/visp/probe']) expect(existsSync(p), p).toBe(false);
    expect(readFileSync(sb.host('h1').file('/etc/visp/probe'), 'utf8')).toBe('hi\n');
    expect(existsSync(`/run/netns/${ns}`)).toBe(true);
    expect(await sb.succeeds('h2', 'test -e /etc/visp/probe')).toBe(false);
    expect(await sb.succeeds('h2', 'ping -c 1 -W 2 198.18.0.1')).toBe(true);
  });

  it('runs visp from this checkout, and copies between hosts with scp', async () => {
    expect(await sb.run('h1', 'visp certs --help | head -1')).toContain('usage: visp certs');
    await sb.run('h1', 'echo secret > /root/f; chmod 600 /root/f; scp /root/f root@h2:/root/');
    expect(readFileSync(sb.host('h2').file('/root/f'), 'utf8')).toBe('secret\n');
    await sb.run('h1', 'scp h2:/root/f /root/g');
    expect(readFileSync(sb.host('h1').file('/root/g'), 'utf8')).toBe('secret\n');
  });

  it('starts a unit as its user with only its capabilities, and stops it', async () => {
    await sb.run('h1', [
      'useradd --system --user-group --no-create-home --shell /usr/sbin/nologin svc',
      'mkdir -p /etc/systemd/system',
      "printf '[Service]\\nUser=svc\\nExecStart=/bin/sleep 600\\nCapabilityBoundingSet=CAP_NET_RAW\\nNoNewPrivileges=yes\\nStateDirectory=svc\\n' > /etc/systemd/system/t.service",
      'systemctl enable --now t', 'systemctl is-active t',
    ].join('\n'));
    const pid = Number(readFileSync(`${sb.host('h1').dir}/units/t.service.pid`, 'utf8'));
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(Number(/^Uid:\s+(\d+)/m.exec(status)![1])).toBeGreaterThan(0);
    expect(/^CapBnd:\s+(\w+)/m.exec(status)![1]).toBe('0000000000002000');   // CAP_NET_RAW (13) only
    expect(/^NoNewPrivs:\s+(\d)/m.exec(status)![1]).toBe('1');
    expect(await sb.succeeds('h1', 'test -d /var/lib/svc && [ "$(stat -c %U /var/lib/svc)" = svc ]')).toBe(true);
    await sb.run('h1', 'systemctl disable --now t; ! systemctl is-active t');
    expect(existsSync(`/proc/${pid}/status`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z')).toBe(false);
  });
});
