// docs/security.md's tables are the code's: who may call what is
// src/api/authz.ts's POLICY, row for row and mark for mark; the limits and
// their defaults are src/controller/limits.ts's DEFAULT_LIMITS and LIMIT_NAMES;
// the audited calls are authz.ts's MUTATING; the audit record's fields are
// src/api/audit.ts's. (Its commands run in test/docs/deploy.test.ts.)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MUTATING, POLICY } from '../../src/api/authz.js';
import { DEFAULT_LIMITS, LIMIT_NAMES, type Limits } from '../../src/controller/limits.js';
import { ROLES } from '../../src/trust/identity.js';
import { tableAfter } from './markdown.js';
import { REPO } from './sandbox.js';

const doc = readFileSync(join(REPO, 'docs/security.md'), 'utf8');

describe('docs/security.md matches the code', () => {
  it('the role table is POLICY: every method, every role, nothing else', () => {
    const [header, ...rows] = tableAfter(doc, 'What each role may call');
    const roles = header!.slice(1);
    // Every role but the controller's and etcd members' has a column (they call nothing).
    expect([...roles].sort()).toEqual(ROLES.filter((r) => r !== 'controller' && r !== 'etcd').sort());
    for (const r of ROLES) if (!roles.includes(r)) expect(Object.values(POLICY).some((allowed) => allowed.includes(r)), `${r} has no column but may call something`).toBe(false);
    const fromDoc = Object.fromEntries(rows.map((cells) => {
      for (const c of cells.slice(1)) expect(['yes', ''], `cell "${c}" in row ${cells[0]}`).toContain(c);
      return [cells[0]!, roles.filter((_, i) => cells[i + 1] === 'yes').sort()];
    }));
    const fromCode = Object.fromEntries(Object.entries(POLICY).map(([m, allowed]) => [m, [...allowed].sort()]));
    expect(fromDoc).toEqual(fromCode);
    expect(rows.map((r) => r[0])).toEqual(Object.keys(POLICY));   // same order, so the doc reads like the code
  });

  it('the limits table is DEFAULT_LIMITS under their configuration names', () => {
    const [, ...rows] = tableAfter(doc, 'Limits');
    const byName = new Map(rows.map((r) => [r[0]!.replace(/`/g, ''), r[1]!]));
    expect([...byName.keys()].sort()).toEqual(Object.values(LIMIT_NAMES).sort());
    for (const k of Object.keys(LIMIT_NAMES) as Array<keyof Limits>) {
      const cell = byName.get(LIMIT_NAMES[k])!;
      const numbers = [...cell.matchAll(/\d+(?:\.\d+)?/g)].map((m) => Number(m[0]));
      const v = DEFAULT_LIMITS[k];
      if (typeof v === 'number') expect(numbers, LIMIT_NAMES[k]).toEqual([v]);
      else expect(numbers, LIMIT_NAMES[k]).toEqual([v.perSecond, v.burst]);
    }
  });

  it('the audited calls and the audit record are the code\'s', () => {
    const para = doc.slice(doc.indexOf('## The audit log'), doc.indexOf('| field |'));
    const named = new Set([...para.matchAll(/\b(Allocate|Provision|Renew|PerformOperationalAction|Delete|Shutdown|SetEgressNode|SetLinkProperties|CancelScheduledChange)\b/g)].map((m) => m[1]));
    const mutating = new Set([...MUTATING].filter((m) => m !== 'Agent.Connect').map((m) => m.split('.')[1]));
    expect([...named].sort()).toEqual([...mutating].sort());
    expect(MUTATING.has('Agent.Connect') && /an agent's\s+registration/.test(para)).toBe(true);
    const fields = tableAfter(doc, 'The audit log').slice(1).map((r) => r[0]!.replace(/`/g, ''));
    const source = readFileSync(join(REPO, 'src/api/audit.ts'), 'utf8');
    const record = source.slice(source.indexOf('export interface AuditRecord'), source.indexOf('}', source.indexOf('export interface AuditRecord')));
    expect(fields).toEqual([...record.matchAll(/^\s+(\w+)\??:/gm)].map((m) => m[1]));
  });
});
