// `visp backup`: an online, consistent copy of the controller's SQLite store,
// taken while the controller runs (src/store/sqlite-backup.ts). Restoring is
// stopping the controller and putting the copy in the store's place
// (docs/deploy.md, "Backup and restore").
import { backupSqliteStore } from '../store/sqlite-backup.js';
import { command, parse, UsageError } from './args.js';

const DEFAULT_STORE = '/var/lib/visp/store.sqlite';

export const BACKUP = command({
  name: 'backup',
  summary: 'copy the controller\'s store while it runs: one consistent snapshot, checked, mode 0600',
  flags: {
    out: { type: 'string', value: 'FILE', help: 'the backup to write (replaced if it exists: written beside it, then renamed)' },
    store: { type: 'string', value: 'FILE', help: `the controller's store (default ${DEFAULT_STORE})` },
    json: { type: 'boolean', help: 'one JSON line: store, out, revision, keys, schema, bytes' },
  },
  notes: 'Restore: stop the controller, put the copy in the store\'s place, start it (docs/deploy.md).',
});

export async function backupCmd(args: string[]): Promise<void> {
  const { values } = parse(BACKUP, args);
  if (!values.out) throw new UsageError('backup: flag --out is required (the backup file to write)');
  const store = values.store ?? DEFAULT_STORE;
  const r = backupSqliteStore(store, values.out);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ store, ...r })}\n`);
    return;
  }
  process.stdout.write(`backed up ${store} to ${r.out}: revision ${r.revision}, ${r.keys} key${r.keys === 1 ? '' : 's'}, ${r.bytes} bytes\n`);
}
