// Sum the test runners' JSON results into the one closing line CI reads.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? '.test-results';
let passed = 0, failed = 0, skipped = 0;
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  passed += r.numPassedTests ?? 0;
  // A file that failed with no failed test in it (it did not load, a hook threw) is a
  // failure too: counted once, so a syntax error cannot hide behind a green test count.
  const files = r.testResults;
  const fileFailures = Array.isArray(files)
    ? files.filter((t) => t.status === 'failed' && !(t.assertionResults ?? []).some((a) => a.status === 'failed')).length
    : (r.numFailedTestSuites && !r.numFailedTests ? r.numFailedTestSuites : 0);
  failed += (r.numFailedTests ?? 0) + fileFailures;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
}
console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''));
process.exit(failed > 0 || passed === 0 ? 1 : 0);
