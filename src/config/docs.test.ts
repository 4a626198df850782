// docs/config.md cannot drift: it quotes deploy/*.yaml as they are, every
// YAML block in it parses, every key the parsers know is in it, and the
// limits' defaults are the code's.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, LIMIT_NAMES, type Limits } from '../api/limits.js';
import { AGENT_KEYS, HEALTH_KEYS, agentOptions, parseAgentConfig, readAgentConfig } from './agent.js';
import { TLS_KEYS } from './common.js';
import { CONTROLLER_KEYS, controllerOptions, DEFAULT_LISTEN, DEFAULT_STORE, LIMIT_KEYS, LISTENER_KEYS, parseControllerConfig, RATE_KEYS, readControllerConfig, WEB_KEYS } from './controller.js';
import { ID_KINDS, POOL_KEYS, RANGE_KEYS, readPoolsFile } from './pools.js';
import { ConfigFile } from './reader.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const DOC = readFileSync(join(REPO, 'docs/config.md'), 'utf8');
const BLOCKS = [...DOC.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
const tmp = mkdtempSync(join(tmpdir(), 'visp-docs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('deploy/*.yaml', () => {
  it('controller.yaml parses and makes a controller that could start (TLS, pools)', () => {
    const opts = controllerOptions(readControllerConfig(join(REPO, 'deploy/controller.yaml')), {});
    expect(opts.tls).toBeDefined();
    expect(opts.ipam?.pools.length).toBeGreaterThan(0);
    expect(opts.listen.map((l) => l.address)).toEqual(['0.0.0.0:7443', 'unix:/run/visp/controller.sock']);
  });
  it('agent.yaml parses and makes an agent that could start (TLS)', () => {
    const opts = agentOptions(readAgentConfig(join(REPO, 'deploy/agent.yaml')), {});
    expect(opts).toMatchObject({ controller: 'controller.testbed.example.org:7443', node: 'n1', reconcileIntervalMs: 2000 });
    expect(opts.tls).toBeDefined();
  });
  it('docs/config.md quotes both as they are', () => {
    for (const f of ['deploy/controller.yaml', 'deploy/agent.yaml']) expect(BLOCKS, f).toContain(readFileSync(join(REPO, f), 'utf8'));
  });
});

describe('docs/config.md', () => {
  it('has YAML blocks, and each parses as what its first line says it is', () => {
    expect(BLOCKS.length).toBeGreaterThanOrEqual(6);
    BLOCKS.forEach((text, i) => {
      const first = text.split('\n')[0]!;
      const where = `docs/config.md block ${i + 1} (${first})`;
      if (first.startsWith('# /etc/visp/controller.yaml')) parseControllerConfig(new ConfigFile(where, text));
      else if (first.startsWith('# /etc/visp/agent.yaml')) parseAgentConfig(new ConfigFile(where, text));
      else if (first.startsWith('# pools file')) {
        const f = join(tmp, `block${i}.yaml`);
        writeFileSync(f, text);
        readPoolsFile(f);
      } else throw new Error(`${where}: the first line must say which file it is (# /etc/visp/controller.yaml, # /etc/visp/agent.yaml, # pools file)`);
    });
  });

  it('names every key the parsers know', () => {
    const prose = DOC.replace(/^```[\s\S]*?^```$/gm, '');
    const inCode = new Set([...prose.matchAll(/`([^`\n]+)`/g)].flatMap((m) => m[1]!.split(/[^A-Za-z0-9_]+/)));
    const keys = [...CONTROLLER_KEYS, ...LISTENER_KEYS, ...TLS_KEYS, ...LIMIT_KEYS, ...RATE_KEYS, ...WEB_KEYS, ...POOL_KEYS, ...ID_KINDS, ...RANGE_KEYS, ...AGENT_KEYS, ...HEALTH_KEYS];
    expect(keys.filter((k) => !inCode.has(k))).toEqual([]);
  });

  it('gives the code\'s defaults', () => {
    const row = (key: string): string[] => {
      const line = DOC.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
      expect(line, `a table row for ${key}`).toBeDefined();
      return line!.split(' | ').map((c) => c.replace(/^\| /, '').trim());
    };
    for (const k of Object.keys(LIMIT_NAMES) as Array<keyof Limits>) {
      const v = DEFAULT_LIMITS[k];
      const want = typeof v === 'number' ? String(v) : `\`{ per_second: ${v.perSecond}, burst: ${v.burst} }\``;
      expect(row(LIMIT_NAMES[k].replace(/^limits\./, ''))[1], k).toBe(want);
    }
    expect(row('listen')[1]).toBe(`\`${DEFAULT_LISTEN}\``);
    expect(row('store')[1]).toBe(`\`${DEFAULT_STORE}\``);
  });
});
