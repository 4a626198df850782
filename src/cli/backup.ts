// `visp backup`: an online, consistent copy of the controller's SQLite store,
// taken while the controller runs (src/store/sqlite-backup.ts). Restoring is
// stopping the controller and putting the copy in the store's place
// (docs/deploy.md, "Backup and restore").
import { backupSqliteStore } from '../store/sqlite-backup.js';
import { parse, UsageError } from './args.js';

const DEFAULT_STORE = '/var/lib/visp/store.sqlite';

export const BACKUP_HELP = `usage: visp backup --out FILE [--store FILE] [--json]
  Copies the controller's store (default ${DEFAULT_STORE}) to FILE while the
  controller runs: one consistent snapshot, checked, written beside FILE and
  renamed into place (FILE is replaced). Restore: docs/deploy.md.`;

export async function backupCmd(args: string[]): Promise<void> {
  const { values } = parse('backup', args, { store: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } });
  if (!values.out) throw new UsageError('backup: flag --out is required (the backup file to write)');
  const store = values.store ?? DEFAULT_STORE;
  const r = backupSqliteStore(store, values.out);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ store, ...r })}\n`);
    return;
  }
  process.stdout.write(`backed up ${store} to ${r.out}: revision ${r.revision}, ${r.keys} key${r.keys === 1 ? '' : 's'}, ${r.bytes} bytes\n`);
}
