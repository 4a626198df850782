import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidSpecError } from '../errors.js';
import { controllerOptions, parseControllerConfig, readControllerConfig, type ControllerConfig, type ControllerFlags } from './controller.js';
import { ConfigFile } from './reader.js';

const FILE = '/etc/visp/controller.yaml';
const parse = (text: string): ControllerConfig => parseControllerConfig(new ConfigFile(FILE, text));
/** The config without its source (a function), for toEqual. */
const plain = ({ source: _, ...c }: ControllerConfig): Omit<ControllerConfig, 'source'> => c;

const tmp = mkdtempSync(join(tmpdir(), 'visp-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TLS = 'tls: { ca: ca.pem, cert: controller.pem, key: controller.key }';
const TLS_FILES = { ca: '/etc/visp/ca.pem', cert: '/etc/visp/controller.pem', key: '/etc/visp/controller.key' };

describe('controller config: what the file says', () => {
  const cases: Array<{ name: string; text: string; want: Omit<ControllerConfig, 'source'> }> = [
    { name: 'an empty file is all defaults', text: '# nothing yet\n', want: {} },
    {
      name: 'every key',
      text: [
        'listen:',
        '  - 0.0.0.0:7443',
        '  - { address: /run/visp/controller.sock, plaintext_identity: spiffe://testbed.example.org/operator/local }',
        TLS,
        'store: /var/lib/visp/store.sqlite',
        'pools:',
        '  - { name: site-v4, prefix: 198.18.64.0/18, class: local, default_block_length: 28 }',
        'identifiers: { vni: [{ first: 1000, last: 9999 }] }',
        'cooldown_ms: 60000',
        'allocation_ttl_ms: 120000',
        'limits: { links_per_slice: 2000, request_bytes: 1048576, rate_per_am: { per_second: 0.5, burst: 10 } }',
        'audit_log: audit.jsonl',
        'sweep_interval: 500ms',
      ].join('\n'),
      want: {
        listen: [
          { address: '0.0.0.0:7443', field: 'listen[0]' },
          { address: 'unix:/run/visp/controller.sock', plaintextIdentity: 'spiffe://testbed.example.org/operator/local', field: 'listen[1]' },
        ],
        tls: TLS_FILES,
        store: '/var/lib/visp/store.sqlite',
        ipam: {
          pools: [{ name: 'site-v4', prefix: '198.18.64.0/18', class: 'local', defaultBlockLength: 28 }],
          identifiers: { vni: [{ first: 1000, last: 9999 }] }, cooldownMs: 60000, allocationTtlMs: 120000,
        },
        limits: { linksPerSlice: 2000, requestBytes: 1048576, ratePerAm: { perSecond: 0.5, burst: 10 } },
        auditLog: '/etc/visp/audit.jsonl',
        sweepIntervalMs: 500,
      },
    },
    { name: 'one listen address; rate_per_am half given takes the other default', text: 'listen: "[::]:7443"\nlimits: { rate_per_am: { burst: 5 } }',
      want: { listen: [{ address: '[::]:7443', field: 'listen' }], limits: { ratePerAm: { perSecond: 50, burst: 5 } } } },
    { name: 'camelCase pool keys of older pools files', text: 'pools: [{ name: a, prefix: 192.0.2.0/24, class: public, largestBlockLength: 26 }]',
      want: { ipam: { pools: [{ name: 'a', prefix: '192.0.2.0/24', class: 'public', largestBlockLength: 26 }] } } },
    { name: 'durations', text: 'sweep_interval: 2m', want: { sweepIntervalMs: 120_000 } },
    { name: 'the web page', text: 'web: { listen: "[2001:db8::1]:7444" }', want: { web: { listen: '[2001:db8::1]:7444' } } },
  ];
  for (const c of cases) it(c.name, () => expect(plain(parse(c.text))).toEqual(c.want));

  it('pools_file: relative to the config file, its errors name that file', () => {
    writeFileSync(join(tmp, 'pools.yaml'), '- { name: lab-v4, prefix: 192.0.2.0/24, class: local }\n');
    writeFileSync(join(tmp, 'bad-pools.yaml'), 'pools:\n  - { name: x, prefix: 192.0.2.1/24, class: local }\n');
    writeFileSync(join(tmp, 'c.yaml'), 'pools_file: pools.yaml\n');
    expect(readControllerConfig(join(tmp, 'c.yaml')).ipam).toEqual({ pools: [{ name: 'lab-v4', prefix: '192.0.2.0/24', class: 'local' }] });
    writeFileSync(join(tmp, 'c.yaml'), 'pools_file: bad-pools.yaml\n');
    expect(() => readControllerConfig(join(tmp, 'c.yaml'))).toThrow(`${join(tmp, 'bad-pools.yaml')}:2:24: pools[0].prefix: "192.0.2.1/24" is not a prefix: host bits are set; did you mean 192.0.2.0/24?`);
    writeFileSync(join(tmp, 'c.yaml'), 'pools_file: nowhere.yaml\n');
    expect(() => readControllerConfig(join(tmp, 'c.yaml'))).toThrow(`${join(tmp, 'nowhere.yaml')}: no such file`);
    expect(() => readControllerConfig(join(tmp, 'missing.yaml'))).toThrow(`${join(tmp, 'missing.yaml')}: no such file`);
  });
});

describe('controller config: every mistake is one error with file, line, column and field', () => {
  const cases: Array<[string, string, string]> = [
    ['syntax', 'listen: [a, b\nstore: x', `${FILE}:2:1: `],
    ['duplicate key', 'store: a\nstore: b', `${FILE}:2:1: Map keys must be unique`],
    ['not a mapping', '- listen', `${FILE}:1:1: expected a mapping (listen, tls, store, pools, limits, …; docs/config.md), got a list`],
    ['unknown key, with a suggestion', 'store: a\nlistn: x', `${FILE}:2:1: listn: unknown field (did you mean "listen"?); expected one of listen, tls, store, pools_file, pools, identifiers, cooldown_ms, allocation_ttl_ms, limits, audit_log, sweep_interval`],
    ['no value', 'store:\nlisten: x', `${FILE}:1:1: store: has no value`],
    ['store not a string', 'store: 42', `${FILE}:1:8: store: expected a non-empty string, got number 42`],
    ['listen: empty list', 'listen: []', `${FILE}:1:9: listen: expected at least one address`],
    ['listen item not a string', 'listen: [7443]', `${FILE}:1:10: listen[0]: expected a non-empty string, got number 7443`],
    ['listener: unknown key', 'listen:\n  - { address: x, identity: y }', `${FILE}:2:19: listen[0].identity: unknown field; expected one of address, plaintext_identity`],
    ['listener: no address', 'listen:\n  - { plaintext_identity: spiffe://t.example/operator/o }', `${FILE}:2:5: listen[0].address: is required`],
    ['plaintext identity on TCP', 'listen:\n  - { address: "0.0.0.0:7443", plaintext_identity: spiffe://t.example/operator/o }',
      `${FILE}:2:52: listen[0].plaintext_identity: plaintext is only for a unix: socket (its file permissions guard it), not 0.0.0.0:7443`],
    ['plaintext identity not a SPIFFE URI', 'listen: { address: unix:/s, plaintext_identity: operator }',
      `${FILE}:1:49: listen.plaintext_identity: "operator" is not spiffe://<trust-domain>/<role>/<name>`],
    ['plaintext identity with an unknown role', 'listen: { address: unix:/s, plaintext_identity: spiffe://t.example/admin/o }',
      `${FILE}:1:49: listen.plaintext_identity: role "admin" is not one of am, operator, operator-readonly, node, controller`],
    ['tls not a mapping', 'tls: /etc/visp', `${FILE}:1:6: tls: expected a mapping (e.g. "{ ca: /etc/visp/ca.pem, cert: /etc/visp/controller.pem, key: /etc/visp/controller.key }"), got the string "/etc/visp"`],
    ['tls: unknown key', 'tls:\n  ca: a\n  crt: b', `${FILE}:3:3: tls.crt: unknown field (did you mean "cert"?); expected one of ca, cert, key`],
    ['tls path not a string', 'tls: { ca: [a] }', `${FILE}:1:12: tls.ca: expected a non-empty string, got a list`],
    ['pools and pools_file', 'pools: [{ name: a, prefix: 192.0.2.0/24, class: local }]\npools_file: p.yaml',
      `${FILE}:2:1: pools_file: give the pools either inline (pools, identifiers, cooldown_ms, allocation_ttl_ms) or in pools_file, not both`],
    ['identifiers without pools', 'identifiers: { vni: [{ first: 1, last: 2 }] }', `${FILE}:1:1: pools: is required with identifiers (they configure the pools)`],
    ['limits not a mapping', 'limits: 5', `${FILE}:1:9: limits: expected a mapping (e.g. "{ links_per_slice: 2000, rate_per_am: { per_second: 50, burst: 200 } }"), got number 5`],
    ['unknown limit', 'limits:\n  link_per_slice: 3', `${FILE}:2:3: limits.link_per_slice: unknown field (did you mean "links_per_slice"?); expected one of links_per_slice, routers_per_slice, nodes_per_slice, members_per_lan, slices_per_am, addresses_per_am, request_bytes, rate_per_am, calls_per_am`],
    ['limit zero', 'limits:\n  nodes_per_slice: 0', `${FILE}:2:20: limits.nodes_per_slice: must be a positive integer, got number 0`],
    ['limit negative', 'limits: { slices_per_am: -1 }', `${FILE}:1:26: limits.slices_per_am: must be a positive integer, got number -1`],
    ['limit fractional', 'limits: { members_per_lan: 2.5 }', `${FILE}:1:28: limits.members_per_lan: must be a positive integer, got number 2.5`],
    ['limit a string', 'limits:\n  links_per_slice: many', `${FILE}:2:20: limits.links_per_slice: must be a positive integer, got the string "many"`],
    ['rate not a mapping', 'limits: { rate_per_am: 50 }', `${FILE}:1:24: limits.rate_per_am: expected a mapping (e.g. "{ per_second: 50, burst: 200 }"), got number 50`],
    ['rate: unknown key', 'limits: { rate_per_am: { rate: 5 } }', `${FILE}:1:26: limits.rate_per_am.rate: unknown field; expected one of per_second, burst`],
    ['rate zero', 'limits: { rate_per_am: { per_second: 0 } }', `${FILE}:1:38: limits.rate_per_am.per_second: must be a positive number, got number 0`],
    ['burst fractional', 'limits: { rate_per_am: { burst: 1.5 } }', `${FILE}:1:33: limits.rate_per_am.burst: must be a positive integer, got number 1.5`],
    ['audit_log not a string', 'audit_log: true', `${FILE}:1:12: audit_log: expected a non-empty string, got boolean true`],
    ['duration without a unit', 'sweep_interval: 30', `${FILE}:1:17: sweep_interval: expected a duration with a unit (500ms, 2s, 15m, 8h, 2d), got number 30 (write e.g. "30s" or "30ms")`],
    ['duration of nothing', 'sweep_interval: 0s', `${FILE}:1:17: sweep_interval: must be longer than 0 (got "0s")`],
    ['not a duration', 'sweep_interval: soon', `${FILE}:1:17: sweep_interval: expected a duration with a unit (500ms, 2s, 15m, 8h, 2d), got the string "soon"`],
    ['web not a mapping', 'web: 0.0.0.0:7444', `${FILE}:1:6: web: expected a mapping (e.g. "{ listen: 0.0.0.0:7444 }"), got the string "0.0.0.0:7444"`],
    ['web: unknown key', 'web: { address: x }', `${FILE}:1:8: web.address: unknown field; expected one of listen`],
    ['web: no listen', 'web: {}', `${FILE}:1:6: web.listen: is required`],
    ['web.listen not host:port', 'web:\n  listen: localhost', `${FILE}:2:11: web.listen: "localhost" is not host:port or [v6]:port (e.g. 0.0.0.0:7444)`],
    ['web.listen a unix socket', 'web: { listen: unix:/run/w.sock }', `${FILE}:1:16: web.listen: "unix:/run/w.sock" is not host:port or [v6]:port`],
  ];
  for (const [name, text, want] of cases) {
    it(name, () => {
      let err: unknown;
      try { parse(text); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidSpecError);
      expect((err as Error).message.startsWith(want), `${(err as Error).message}\n  should start with\n${want}`).toBe(true);
    });
  }
  it('the error carries the field', () => {
    expect(() => parse('limits:\n  links_per_slice: 0')).toThrow(expect.objectContaining({ field: 'limits.links_per_slice' }));
  });
});

describe('controller options: flags over the file', () => {
  const base = parse(`${TLS}\nlisten: ["0.0.0.0:7443"]\nstore: s.sqlite\naudit_log: a.jsonl\nsweep_interval: 3s\nlimits: { links_per_slice: 7 }\npools: [{ name: a, prefix: 192.0.2.0/24, class: local }]`);
  writeFileSync(join(tmp, 'flag-pools.yaml'), 'pools: [{ name: b, prefix: 198.51.100.0/24, class: public }]\n');
  const cases: Array<{ name: string; config?: ControllerConfig; flags: ControllerFlags; want: object }> = [
    {
      name: 'the file alone', config: base, flags: {},
      want: { listen: [{ address: '0.0.0.0:7443' }], tls: TLS_FILES, storePath: '/etc/visp/s.sqlite', auditLog: '/etc/visp/a.jsonl', sweepIntervalMs: 3000,
        limits: { linksPerSlice: 7 }, ipam: { pools: [{ name: 'a', prefix: '192.0.2.0/24', class: 'local' }] } },
    },
    {
      name: 'flags replace listen, store, pools, audit log and one TLS file', config: base,
      flags: { listen: ['/run/c.sock', '[::1]:7443'], store: '/tmp/s', pools: join(tmp, 'flag-pools.yaml'), auditLog: '/tmp/a', tls: { cert: '/tmp/c.pem' } },
      want: { listen: [{ address: 'unix:/run/c.sock' }, { address: '[::1]:7443' }], tls: { ...TLS_FILES, cert: '/tmp/c.pem' }, storePath: '/tmp/s', auditLog: '/tmp/a',
        sweepIntervalMs: 3000, limits: { linksPerSlice: 7 }, ipam: { pools: [{ name: 'b', prefix: '198.51.100.0/24', class: 'public' }] } },
    },
    {
      name: 'no file: the defaults, TLS from flags, lab pools', flags: { tls: { ca: 'a', cert: 'b', key: 'c' }, lab: true },
      want: { listen: [{ address: 'unix:/run/visp/controller.sock' }], tls: { ca: 'a', cert: 'b', key: 'c' }, storePath: '/var/lib/visp/store.sqlite', labPools: true },
    },
    {
      name: 'a plaintext unix socket needs no TLS', flags: { listen: ['unix:/run/l.sock'], plaintextIdentity: 'spiffe://lab.visp.test/operator/lab' },
      want: { listen: [{ address: 'unix:/run/l.sock', plaintextIdentity: 'spiffe://lab.visp.test/operator/lab' }], storePath: '/var/lib/visp/store.sqlite' },
    },
    {
      name: '--plaintext-identity goes to the unix listeners only', config: parse(`${TLS}\nlisten: ["0.0.0.0:7443", /run/c.sock]`),
      flags: { plaintextIdentity: 'spiffe://t.example/operator/o' },
      want: { listen: [{ address: '0.0.0.0:7443' }, { address: 'unix:/run/c.sock', plaintextIdentity: 'spiffe://t.example/operator/o' }], tls: TLS_FILES, storePath: '/var/lib/visp/store.sqlite' },
    },
    {
      name: 'the web page from the file; --web replaces it', config: parse(`${TLS}\nweb: { listen: "0.0.0.0:7444" }`), flags: {},
      want: { listen: [{ address: 'unix:/run/visp/controller.sock' }], tls: TLS_FILES, storePath: '/var/lib/visp/store.sqlite', web: { listen: '0.0.0.0:7444' } },
    },
    {
      name: '--web', config: parse(`${TLS}\nweb: { listen: "0.0.0.0:7444" }`), flags: { web: '127.0.0.1:0' },
      want: { listen: [{ address: 'unix:/run/visp/controller.sock' }], tls: TLS_FILES, storePath: '/var/lib/visp/store.sqlite', web: { listen: '127.0.0.1:0' } },
    },
  ];
  for (const c of cases) it(c.name, () => expect(controllerOptions(c.config, c.flags)).toEqual(c.want));

  const errors: Array<{ name: string; config?: ControllerConfig; flags: ControllerFlags; want: string }> = [
    { name: 'no TLS, no plaintext identity', flags: {},
      want: 'listen: unix:/run/visp/controller.sock needs TLS: give --tls-ca, --tls-cert, --tls-key (or, for this unix socket only, --plaintext-identity URI: every caller on it acts as that identity)' },
    { name: 'no TLS for a TCP listener from flags', flags: { listen: ['0.0.0.0:7443'] }, want: 'listen: 0.0.0.0:7443 needs TLS: give --tls-ca, --tls-cert, --tls-key' },
    { name: 'no TLS for a listener of the file: placed at it', config: parse('store: x\nlisten:\n  - /run/c.sock\n  - 0.0.0.0:7443'), flags: { plaintextIdentity: 'spiffe://t.example/operator/o' },
      want: `${FILE}:4:5: listen[1]: 0.0.0.0:7443 needs TLS: give --tls-ca, --tls-cert, --tls-key or tls: in ${FILE}` },
    { name: 'TLS files half given by flags', flags: { tls: { ca: 'a', key: 'c' } }, want: 'TLS needs all three files (ca, cert, key); missing cert (--tls-cert)' },
    { name: 'TLS files half given in the file: placed at tls', config: parse('store: x\ntls: { ca: a }'), flags: {},
      want: `${FILE}:2:6: tls: TLS needs all three files (ca, cert, key); missing cert, key (--tls-cert or tls.cert in ${FILE}, --tls-key or tls.key in ${FILE})` },
    { name: '--plaintext-identity without a unix listener', flags: { listen: ['0.0.0.0:7443'], plaintextIdentity: 'spiffe://t.example/operator/o' },
      want: '--plaintext-identity: only for a unix: listen address (its file permissions guard it); listening on 0.0.0.0:7443' },
    { name: '--plaintext-identity not a URI', flags: { plaintextIdentity: 'operator' }, want: '--plaintext-identity: "operator" is not spiffe://<trust-domain>/<role>/<name>' },
    { name: 'the web page without TLS, from the file: placed at web.listen', config: parse('store: x\nweb:\n  listen: 0.0.0.0:7444'), flags: { plaintextIdentity: 'spiffe://t.example/operator/o' },
      want: `${FILE}:3:11: web.listen: 0.0.0.0:7444: the web page needs TLS (a browser authenticates with its client certificate): give --tls-ca, --tls-cert, --tls-key or tls: in ${FILE}` },
    { name: '--web without TLS', flags: { plaintextIdentity: 'spiffe://t.example/operator/o', web: '0.0.0.0:7444' },
      want: 'web: 0.0.0.0:7444: the web page needs TLS (a browser authenticates with its client certificate): give --tls-ca, --tls-cert, --tls-key' },
    { name: '--web not host:port', flags: { tls: { ca: 'a', cert: 'b', key: 'c' }, web: '7444' }, want: '--web: "7444" is not host:port or [v6]:port (e.g. 0.0.0.0:7444)' },
    { name: '--pools file missing', flags: { tls: { ca: 'a', cert: 'b', key: 'c' }, pools: join(tmp, 'none.yaml') }, want: `${join(tmp, 'none.yaml')}: no such file` },
  ];
  for (const c of errors) {
    it(`refused: ${c.name}`, () => {
      let err: unknown;
      try { controllerOptions(c.config, c.flags); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(InvalidSpecError);
      expect((err as Error).message).toBe(c.want);
    });
  }
});
