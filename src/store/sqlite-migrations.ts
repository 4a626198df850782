// Schema migrations for the embedded store. The schema version lives in
// SQLite's own header field (PRAGMA user_version), which is written in the
// same transaction as the migration, so a crash mid-migration leaves the old
// version and the old schema. Each step re-reads the version under the write
// lock because several processes may open a fresh file at the same moment.

import type { Database } from 'better-sqlite3';
import { IncompatibleStateError } from '../errors.js';

export interface Migration {
  readonly version: number;
  readonly description: string;
  up(db: Database): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'key/value table with etcd-style revisions',
    up(db) {
      db.exec(`
        CREATE TABLE kv (
          key             TEXT    PRIMARY KEY,
          value           TEXT    NOT NULL,
          create_revision INTEGER NOT NULL,
          mod_revision    INTEGER NOT NULL,
          version         INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE meta (
          name  TEXT    PRIMARY KEY,
          value INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO meta (name, value) VALUES ('revision', 0);
      `);
    },
  },
];

const schemaVersion = (db: Database): number => db.pragma('user_version', { simple: true }) as number;

/** Brings the file up to the newest version. */
export function migrate(db: Database, file: string, migrations: readonly Migration[] = MIGRATIONS): void {
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  const from = schemaVersion(db);
  if (from > latest) {
    throw new IncompatibleStateError(
      `store ${file}: schema version ${from} is newer than this build supports (${latest}); upgrade visp before opening it`,
    );
  }
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  for (const m of ordered) {
    db.transaction(() => {
      if (schemaVersion(db) >= m.version) return;
      m.up(db);
      // user_version cannot be bound as a parameter; the value is our own integer.
      db.pragma(`user_version = ${Math.trunc(m.version)}`);
    }).immediate();
  }
}
