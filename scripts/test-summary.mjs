#!/usr/bin/env node
/**
 * The plain closing line of a test run, `N passed, N failed` (`, N skipped` when any were), from
 * the reports `npm test` writes into WEBSCALE_TEST_REPORT_DIR: vitest's JSON (`vitest.json`) and
 * pytest's JUnit XML (`pytest.xml`), added together. A report that is missing adds nothing.
 *
 * Usage: node scripts/test-summary.mjs DIR
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A test file that fails outside its tests (a beforeAll hook, an import) fails no test of its own:
 * vitest marks its tests skipped. Each such file counts as one failure, so a broken suite can
 * never end on "0 failed".
 */
function vitestCounts(file) {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const brokenFiles = (r.testResults ?? []).filter(
    (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
  ).length;
  return {
    passed: r.numPassedTests ?? 0,
    failed: (r.numFailedTests ?? 0) + brokenFiles,
    skipped: (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0),
  };
}

/** Sums the <testsuite> elements' counts (pytest writes one; passed = tests less the rest). */
function junitCounts(file) {
  const xml = readFileSync(file, 'utf8');
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const [, attrs] of xml.matchAll(/<testsuite\s([^>]*)>/g)) {
    const num = (name) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(attrs)?.[1] ?? 0);
    const failed = num('failures') + num('errors');
    counts.failed += failed;
    counts.skipped += num('skipped');
    counts.passed += num('tests') - failed - num('skipped');
  }
  return counts;
}

export function summarize(dir) {
  const total = { passed: 0, failed: 0, skipped: 0 };
  const parts = [
    [join(dir, 'vitest.json'), vitestCounts],
    [join(dir, 'pytest.xml'), junitCounts],
  ];
  for (const [file, read] of parts) {
    if (!existsSync(file)) continue;
    const c = read(file);
    total.passed += c.passed;
    total.failed += c.failed;
    total.skipped += c.skipped;
  }
  return `${total.passed} passed, ${total.failed} failed` + (total.skipped ? `, ${total.skipped} skipped` : '');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv[2]) {
    console.error('usage: node scripts/test-summary.mjs DIR');
    process.exit(2);
  }
  console.log(summarize(process.argv[2]));
}
