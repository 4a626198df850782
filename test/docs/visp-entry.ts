// The `visp` command as the docs tests run it: src/cli/main.ts, except that
// `backup` and `retire` (src/cli/backup.ts, src/cli/retire.ts) are run
// directly while main.ts does not list them yet. test/docs/deploy.test.ts
// has a test that fails until main.ts registers both, so this cannot hide a
// missing registration.
import { readFileSync } from 'node:fs';
import { HelpRequest, UsageError } from '../../src/cli/args.js';

const main = new URL('../../src/cli/main.ts', import.meta.url);
const [cmd, ...rest] = process.argv.slice(2);
const registered = (name: string): boolean => new RegExp(`^\\s*${name}: async \\(\\) =>`, 'm').test(readFileSync(main, 'utf8'));

async function direct(run: (args: string[]) => Promise<void>): Promise<void> {
  try {
    await run(rest);
    process.exit(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof HelpRequest) {
      process.stdout.write(`${e.text}\n`);
      process.exit(0);
    }
    process.stderr.write(`visp: ${(e as Error).message}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
}

if (cmd === 'backup' && !registered('backup')) await direct((await import('../../src/cli/backup.js')).backupCmd);
else if (cmd === 'retire' && !registered('retire')) await direct((await import('../../src/cli/retire.js')).retireCmd);
else await import(main.href);
