// `visp rspec`: GENI RSpec v3 (docs/rspec.md). `import` turns a request
// RSpec into a visp topology file (what it ignored on stderr), read by the
// same reader the API's Allocate uses; `manifest` prints a slice's manifest
// as a v3 manifest RSpec (Describe with manifest_rspec).
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { InvalidSpecError } from '../errors.js';
import { withTimeout } from '../lab/index.js';
import { parseRequestRspec } from '../rspec/request.js';
import { topologyYaml } from '../topology/write.js';
import { command, parse, UsageError, type GroupSpec } from './args.js';
import { withClient } from './target.js';

export const RSPEC_IMPORT = command({
  name: 'rspec import', args: 'FILE', positionals: 1,
  summary: 'a GENI v3 request RSpec → a visp topology file (elements visp ignores are named on stderr)',
  flags: {
    name: { type: 'string', value: 'SLICE', help: 'the topology\'s name (default: the file\'s name without its extension)' },
    out: { type: 'string', value: 'FILE', help: 'write the topology to FILE (default: standard output)' },
  },
  notes: 'Which elements are read, ignored or refused, and why: docs/rspec.md. An aggregate manager can\nalso give the RSpec to Allocate itself (AllocateRequest.request_rspec).',
});
export const RSPEC_MANIFEST = command({
  name: 'rspec manifest', args: 'SLICE', positionals: 1, summary: 'a slice\'s manifest as a GENI v3 manifest RSpec',
  flags: {
    controller: { type: 'string', value: 'ADDR', help: 'the controller: host:port or unix:/path (default: $VISP_CONTROLLER, else the one lab that is up)' },
    out: { type: 'string', value: 'FILE', help: 'write it to FILE (default: standard output)' },
  },
});
export const RSPEC: GroupSpec = { name: 'rspec', summary: 'GENI RSpec v3: a request in, a manifest out', subcommands: [RSPEC_IMPORT, RSPEC_MANIFEST] };

export async function rspecCmd(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'import') {
    const { values, positionals } = parse(RSPEC_IMPORT, rest);
    const file = positionals[0];
    if (!file) throw new UsageError('rspec import: which file? (visp rspec import request.xml)');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new InvalidSpecError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { field: '' });
    }
    const r = parseRequestRspec(text, { source: file });
    for (const w of r.warnings) process.stderr.write(`visp: ${w}\n`);
    const name = values.name ?? basename(file, extname(file));
    const yaml = topologyYaml(name, r.topology, [`From the GENI request RSpec ${basename(file)} by visp rspec import.`]);
    if (values.out === undefined) process.stdout.write(yaml);
    else {
      writeFileSync(values.out, yaml);
      process.stdout.write(`${values.out}: ${r.topology.nodes.length} routers, ${r.topology.links.length} links${r.warnings.length ? `; ${r.warnings.length} kinds of element ignored (above)` : ''}\n`);
    }
    return;
  }
  if (sub === 'manifest') {
    const { values, positionals } = parse(RSPEC_MANIFEST, rest);
    const slice = positionals[0];
    if (!slice) throw new UsageError('rspec manifest: which slice? (visp rspec manifest SLICE)');
    const r = await withClient(values.controller, (c) => withTimeout(c.links.describe({ slice, manifestRspec: true }), 60_000, 'Describe'));
    if (values.out === undefined) process.stdout.write(r.manifestRspec);
    else writeFileSync(values.out, r.manifestRspec);
    return;
  }
  throw new UsageError(`rspec: ${sub ? `unknown subcommand ${JSON.stringify(sub)}` : 'which subcommand?'} (visp rspec import FILE, visp rspec manifest SLICE)`);
}
