// Prints one closing line for all vitest runs, in the plain form CI reads:
//   "tests: N passed, N failed, N skipped"
import { existsSync, readFileSync } from 'node:fs';

let passed = 0, failed = 0, skipped = 0, missing = 0;
for (const file of process.argv.slice(2)) {
  if (!existsSync(file)) { missing++; process.stderr.write(`no results in ${file} (that run crashed before reporting)\n`); continue; }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  // A file that failed outside its tests (it did not load, or a beforeAll hook
  // threw and its tests were reported as skipped) counts as one failure.
  failed += (r.testResults ?? []).filter((t) => t.status === 'failed' && !(t.assertionResults ?? []).some((a) => a.status === 'failed')).length;
}
process.stdout.write(`\ntests: ${passed} passed, ${failed + missing} failed, ${skipped} skipped\n`);
process.exit(failed + missing > 0 ? 1 : 0);
