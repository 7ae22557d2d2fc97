/**
 * The closing line of `npm test` (scripts/test-summary.mjs): vitest's JSON report and pytest's
 * JUnit XML added together, failures and errors counted as failed, skips shown apart.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SUMMARY = fileURLToPath(new URL('../../scripts/test-summary.mjs', import.meta.url));

function line(dir: string): string {
  return execFileSync(process.execPath, [SUMMARY, dir], { encoding: 'utf8' }).trim();
}

const JUNIT = (tests: number, failures: number, errors: number, skipped: number): string =>
  `<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="${errors}" failures="${failures}" skipped="${skipped}" tests="${tests}" time="1.0"><testcase classname="t" name="a" /></testsuite></testsuites>`;

describe('scripts/test-summary.mjs', () => {
  it('adds vitest and pytest counts into one plain line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-summary-'));
    await writeFile(join(dir, 'vitest.json'), JSON.stringify({ numPassedTests: 500, numFailedTests: 2, numPendingTests: 0, numTodoTests: 0 }));
    await writeFile(join(dir, 'pytest.xml'), JUNIT(134, 1, 2, 1));
    expect(line(dir)).toBe('630 passed, 5 failed, 1 skipped');
  });

  it('counts a test file that failed outside its tests (a beforeAll hook) as a failure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-summary-'));
    const report = {
      numPassedTests: 3,
      numFailedTests: 1,
      numPendingTests: 6,
      numTodoTests: 0,
      testResults: [
        { status: 'failed', assertionResults: [{ status: 'skipped' }, { status: 'skipped' }] },
        { status: 'passed', assertionResults: [{ status: 'passed' }] },
        { status: 'failed', assertionResults: [{ status: 'failed' }] },
      ],
    };
    await writeFile(join(dir, 'vitest.json'), JSON.stringify(report));
    expect(line(dir)).toBe('3 passed, 2 failed, 6 skipped');
  });

  it('counts what is there when one suite wrote no report', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wsrl-summary-'));
    await writeFile(join(dir, 'pytest.xml'), JUNIT(10, 0, 0, 0));
    expect(line(dir)).toBe('10 passed, 0 failed');
  });
});
