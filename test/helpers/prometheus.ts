// A real Prometheus (Debian's /usr/bin/prometheus) for tests: on a free
// port of 127.0.0.1 only, with its storage in a temporary directory and the
// scrape config the test gives; its HTTP API for queries. stop() ends it
// and removes the directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export const PROMETHEUS = '/usr/bin/prometheus';
export const prometheusSkipReason = existsSync(PROMETHEUS) ? undefined : `${PROMETHEUS} is not installed (Debian package prometheus; scripts/setup.sh)`;

/** A port nobody listens on now (the kernel's choice for 127.0.0.1:0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface Sample { metric: Record<string, string>; value: [number, string] }

export class Prometheus {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'visp-prom-'));
  readonly log: string[] = [];
  address = '';

  /** `config`: the whole prometheus.yml, as YAML text. */
  async start(config: string): Promise<this> {
    const file = join(this.dir, 'prometheus.yml');
    writeFileSync(file, config);
    // promtool says what is wrong with a config far better than a Prometheus that will not start.
    const check = spawnSync('/usr/bin/promtool', ['check', 'config', file], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`promtool check config: ${check.stdout}${check.stderr}`);
    const port = await freePort();
    this.address = `127.0.0.1:${port}`;
    this.proc = spawn(PROMETHEUS, [
      `--config.file=${file}`, `--storage.tsdb.path=${join(this.dir, 'data')}`, `--web.listen-address=${this.address}`,
      // Nothing of its own but the API: no lifecycle or admin endpoints, no retention worth the name.
      '--storage.tsdb.retention.time=1h', '--log.level=warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => { this.log.push(...d.toString().split('\n').filter(Boolean)); if (this.log.length > 500) this.log.splice(0, 100); });
    await waitFor('prometheus ready', async () => {
      if (this.proc?.exitCode !== null) throw new Error(`prometheus exited: ${this.log.slice(-5).join(' | ')}`);
      return fetch(`http://${this.address}/-/ready`).then((r) => r.ok, () => false);
    }, 30_000, 100);
    return this;
  }

  /** An instant query's result vector. */
  async query(expr: string): Promise<Sample[]> {
    const r = await fetch(`http://${this.address}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await r.json() as { status: string; error?: string; data: { resultType: string; result: Sample[] } };
    if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
    return body.data.result;
  }

  /** The scrape targets and their health, as Prometheus sees them. */
  async targets(): Promise<Array<{ scrapeUrl: string; health: string; lastError: string; labels: Record<string, string> }>> {
    const r = await fetch(`http://${this.address}/api/v1/targets?state=active`);
    const body = await r.json() as { data: { activeTargets: Array<{ scrapeUrl: string; health: string; lastError: string; labels: Record<string, string> }> } };
    return body.data.activeTargets;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One scrape job in prometheus.yml: HTTPS with a client certificate, one target per entry (its labels added). */
export function scrapeJob(o: { job: string; tls: { ca: string; cert: string; key: string }; targets: Array<{ address: string; labels?: Record<string, string> }>; interval?: string }): string {
  const statics = o.targets.map((t) => `      - targets: ['${t.address}']${t.labels ? `\n        labels: { ${Object.entries(t.labels).map(([k, v]) => `${k}: '${v}'`).join(', ')} }` : ''}`).join('\n');
  return `  - job_name: ${o.job}
    scheme: https
    scrape_interval: ${o.interval ?? '1s'}
    scrape_timeout: ${o.interval ?? '1s'}
    tls_config:
      ca_file: ${o.tls.ca}
      cert_file: ${o.tls.cert}
      key_file: ${o.tls.key}
    static_configs:
${statics}
`;
}
