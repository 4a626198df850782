// The audit log: one JSON line per mutating call (and per refused call of any
// kind), written when the call has its outcome. Append-only file, or the
// daemon's log when no file is configured.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

export interface AuditRecord {
  time: string;
  /** spiffe://… of the caller, or "" when it presented no usable identity. */
  identity: string;
  role: string;
  peer: string;
  /** "Service.Rpc" */
  verb: string;
  slice?: string;
  node?: string;
  /** The gRPC status name: OK, NOT_FOUND, PERMISSION_DENIED, … */
  code: string;
  message?: string;
}

export interface AuditLog {
  write(r: Omit<AuditRecord, 'time'>): void;
  close(): Promise<void>;
}

export function openAuditLog(file: string | undefined, log: (line: string) => void): AuditLog {
  let out: WriteStream | undefined;
  if (file) {
    mkdirSync(dirname(file), { recursive: true });
    out = createWriteStream(file, { flags: 'a', mode: 0o640 });
    out.on('error', (e) => log(`audit log ${file}: ${e.message}`));
  }
  return {
    write(r) {
      const line = JSON.stringify({ time: new Date().toISOString(), ...r });
      if (out) out.write(`${line}\n`);
      else log(`audit ${line}`);
    },
    close: () => new Promise((resolve) => { if (out) out.end(() => resolve()); else resolve(); }),
  };
}
