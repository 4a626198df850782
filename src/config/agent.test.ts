import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import { agentOptions, parseAgentConfig, type AgentConfig, type AgentFlags } from './agent.js';
import { ConfigFile } from './reader.js';

const FILE = '/etc/visp/agent.yaml';
const parse = (text: string): AgentConfig => parseAgentConfig(new ConfigFile(FILE, text));
const plain = ({ source: _, ...c }: AgentConfig): Omit<AgentConfig, 'source'> => c;
const TLS_FILES = { ca: '/etc/visp/ca.pem', cert: '/etc/visp/node.pem', key: '/etc/visp/node.key' };

describe('agent config: what the file says', () => {
  const cases: Array<[string, string, Omit<AgentConfig, 'source'>]> = [
    ['empty', '', {}],
    ['every key', [
      'controller: controller.example.org:7443',
      'node: n1',
      'underlay: [198.18.0.1, "2001:db8:ff::1"]',
      'underlay_capacity: 10Gbit',
      'tls: { ca: ca.pem, cert: node.pem, key: /etc/visp/node.key }',
      'run_dir: /run/visp',
      'reconcile_interval: 2s',
    ].join('\n'), {
      controller: 'controller.example.org:7443', node: 'n1', underlay: ['198.18.0.1', '2001:db8:ff::1'], underlayCapacity: 10e9, tls: TLS_FILES, runDir: '/run/visp', reconcileIntervalMs: 2000,
    }],
    ['underlay_capacity none', 'controller: c:1\nunderlay_capacity: none', { controller: 'c:1', underlayCapacity: 'none' }],
    ['one underlay address; a bare socket path; a number as a node name', 'controller: /run/visp/controller.sock\nnode: 7\nunderlay: 198.18.0.1\nplaintext: true',
      { controller: 'unix:/run/visp/controller.sock', node: '7', underlay: ['198.18.0.1'], plaintext: true }],
    ['health: the timing', 'health:\n  interval: 100ms\n  down_after: 1s\n  answer_timeout: 500ms\n  startup: 3s\n  window: 5s\n  degraded_loss: 0.05',
      { health: { intervalMs: 100, downAfterMs: 1000, answerTimeoutMs: 500, startupMs: 3000, windowMs: 5000, degradedLoss: 0.05 } }],
    ['health: off', 'health: { enabled: false }', { health: false }],
    ['health: on, defaults', 'health: { enabled: true }', { health: {} }],
    ['plaintext: false is allowed anywhere', 'controller: c:1\nplaintext: false\nreconcile_interval: 500ms', { controller: 'c:1', plaintext: false, reconcileIntervalMs: 500 }],
  ];
  for (const [name, text, want] of cases) it(name, () => expect(plain(parse(text))).toEqual(want));

  const errors: Array<[string, string, string]> = [
    ['syntax', 'node: [', `${FILE}:1:8: `],
    ['not a mapping', '[a]', `${FILE}:1:1: expected a mapping (controller, node, tls, …; docs/config.md), got a list`],
    ['unknown key', 'nod: n1', `${FILE}:1:1: nod: unknown field (did you mean "node"?); expected one of controller, node, underlay, underlay_capacity, tls, plaintext, run_dir, reconcile_interval, metrics, health`],
    ['underlay_capacity not a rate', 'underlay_capacity: fast', `${FILE}:1:20: underlay_capacity: "fast" is not a rate: give bits per second with a unit, e.g. 64kbit, 100Mbit, 1.5Gbit; or auto (the devices' speed) or none (no guarantees)`],
    ['controller not a string', 'controller: 7443', `${FILE}:1:13: controller: expected a non-empty string, got number 7443`],
    ['a bad node name', 'node: "n 1"', `${FILE}:1:7: node: "n 1" is not a valid name`],
    ['node not a string', 'node: [n1]', `${FILE}:1:7: node: expected a non-empty string, got a list`],
    ['underlay not an address', 'underlay: eth0', `${FILE}:1:11: underlay: "eth0" is not an IP address`],
    ['underlay list with a prefix', 'underlay:\n  - 198.18.0.1\n  - 198.18.0.2/24', `${FILE}:3:5: underlay[1]: "198.18.0.2/24" is not an IP address`],
    ['underlay empty', 'underlay: []', `${FILE}:1:11: underlay: expected at least one entry`],
    ['tls unknown key', 'tls: { ca: a, certificate: b }', `${FILE}:1:15: tls.certificate: unknown field`],
    ['plaintext not a boolean', 'plaintext: yes', `${FILE}:1:12: plaintext: expected true or false, got the string "yes"`],
    ['plaintext to a TCP controller', 'controller: 198.18.0.9:7443\nplaintext: true', `${FILE}:2:12: plaintext: only for a unix: controller address, not 198.18.0.9:7443`],
    ['run_dir empty', 'run_dir: ""', `${FILE}:1:10: run_dir: expected a non-empty string`],
    ['health: unknown key', 'health: { intervall: 1s }', `${FILE}:1:11: health.intervall: unknown field (did you mean "interval"?)`],
    ['health: down_after under two intervals', 'health:\n  interval: 1s\n  down_after: 1500ms', `${FILE}:3:15: health.down_after: must be at least two intervals (2000 ms), got 1500 ms`],
    ['health: answer_timeout over down_after', 'health: { answer_timeout: 2s }', `${FILE}:1:27: health.answer_timeout: must not be longer than down_after (1500 ms), got 2000 ms`],
    ['health: loss over 1', 'health: { degraded_loss: 20 }', `${FILE}:1:26: health.degraded_loss: a share of probes`],
    ['interval without a unit', 'reconcile_interval: 500', `${FILE}:1:21: reconcile_interval: expected a duration with a unit (500ms, 2s, 15m, 8h, 2d), got number 500 (write e.g. "500s" or "500ms")`],
  ];
  for (const [name, text, want] of errors) {
    it(`refused: ${name}`, () => {
      let err: unknown;
      try { parse(text); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidSpecError);
      const msg = (err as Error).message;
      expect(msg.startsWith(want), `${msg}\n  should start with\n${want}`).toBe(true);
    });
  }
});

describe('agent options: flags over the file', () => {
  const file = parse('controller: 198.18.0.9:7443\nnode: n1\nunderlay: 198.18.0.1\ntls: { ca: ca.pem, cert: node.pem, key: node.key }\nrun_dir: /run/visp\nreconcile_interval: 2s');
  const cases: Array<{ name: string; config?: AgentConfig; flags: AgentFlags; want: object }> = [
    { name: 'the file alone', config: file, flags: {},
      want: { controller: '198.18.0.9:7443', node: 'n1', underlay: ['198.18.0.1'], tls: TLS_FILES, runDir: '/run/visp', reconcileIntervalMs: 2000 } },
    { name: 'flags win', config: file, flags: { controller: '/run/c.sock', node: 'n2', underlay: ['203.0.113.5'], tls: { key: '/k' }, runDir: '/tmp/r', reconcileIntervalMs: 500 },
      want: { controller: 'unix:/run/c.sock', node: 'n2', underlay: ['203.0.113.5'], tls: { ...TLS_FILES, key: '/k' }, runDir: '/tmp/r', reconcileIntervalMs: 500 } },
    { name: 'the node name may come from the certificate', flags: { controller: 'c:7443', tls: { ca: 'a', cert: 'b', key: 'c' } },
      want: { controller: 'c:7443', tls: { ca: 'a', cert: 'b', key: 'c' } } },
    { name: 'plaintext to a unix socket', flags: { controller: 'unix:/run/l.sock', node: 'n1', plaintext: true }, want: { controller: 'unix:/run/l.sock', node: 'n1' } },
    { name: 'plaintext from the file', config: parse('controller: unix:/run/l.sock\nnode: n1\nplaintext: true'), flags: {}, want: { controller: 'unix:/run/l.sock', node: 'n1' } },
  ];
  for (const c of cases) it(c.name, () => expect(agentOptions(c.config, c.flags)).toEqual(c.want));

  const errors: Array<{ name: string; config?: AgentConfig; flags: AgentFlags; want: string }> = [
    { name: 'no controller', flags: { node: 'n1' }, want: 'the controller\'s address is required: --controller ADDR' },
    { name: 'no controller, with a file', config: parse('node: n1'), flags: {}, want: `the controller's address is required: --controller ADDR or controller: in ${FILE}` },
    { name: 'no node and no certificate', flags: { controller: 'unix:/s', plaintext: true }, want: 'this node\'s name is required: --node NAME (with TLS, the name in the node\'s certificate)' },
    { name: 'no TLS to a TCP controller', flags: { controller: '198.18.0.9:7443', node: 'n1' }, want: 'TLS is required to reach the controller at 198.18.0.9:7443: give --tls-ca, --tls-cert, --tls-key' },
    { name: 'no TLS to a unix socket without --plaintext', flags: { controller: '/run/c.sock', node: 'n1' },
      want: 'TLS is required to reach the controller at unix:/run/c.sock: give --tls-ca, --tls-cert, --tls-key (or, for a unix: socket only, --plaintext)' },
    { name: '--plaintext to a TCP controller', flags: { controller: 'c:7443', node: 'n1', plaintext: true }, want: '--plaintext: only for a unix: controller address, not c:7443' },
    { name: 'plaintext in the file, the controller from a flag: placed in the file', config: parse('node: n1\nplaintext: true'), flags: { controller: 'c:7443' },
      want: `${FILE}:2:12: plaintext: only for a unix: controller address, not c:7443` },
    { name: '--plaintext with TLS files', config: file, flags: { controller: 'unix:/s', plaintext: true }, want: `--plaintext: plaintext and TLS files exclude each other (TLS from ${FILE})` },
    { name: 'TLS half given', flags: { controller: 'c:1', node: 'n1', tls: { ca: 'a' } }, want: 'TLS needs all three files (ca, cert, key); missing cert, key (--tls-cert, --tls-key)' },
    { name: '--node not a name', flags: { controller: 'c:1', node: 'a/b' }, want: '--node: "a/b" is not a valid name (letters, digits, \'.\', \'_\', \'-\'; at most 63; starts with a letter or digit)' },
    { name: '--underlay not an address', flags: { controller: 'c:1', node: 'n1', underlay: ['198.18.0.1', 'eth0'] }, want: '--underlay: "eth0" is not an IP address' },
  ];
  for (const c of errors) {
    it(`refused: ${c.name}`, () => {
      let err: unknown;
      try { agentOptions(c.config, c.flags); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidSpecError);
      expect((err as Error).message).toBe(c.want);
    });
  }
});
