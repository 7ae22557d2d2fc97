#!/usr/bin/env node
/**
 * `npm test`: the vitest suite, then the Python client's pytest suite (clients/python/tests) in
 * the venv test/interop/setup.sh --client makes (fastavro, pyarrow, datasets, confluent-kafka,
 * pytest and the client installed from this checkout). Both always run; the exit code is
 * non-zero when either fails (pytest collecting no test counts as a failure).
 *
 * Arguments go to vitest (`npm test -- test/foo.test.ts`). When they name test files or filters,
 * only vitest runs; set WEBSCALE_PYTEST=1 to run pytest as well (or =0 to skip it on a full run).
 *
 * With WEBSCALE_TEST_REPORT_DIR set, vitest also writes `vitest.json` and pytest `pytest.xml`
 * (JUnit) into that folder, and the plain closing line `N passed, N failed` counting both is
 * printed at the end (`node scripts/test-summary.mjs DIR` prints it again); `.ci/run` uses this.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from './test-summary.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const reportDir = process.env.WEBSCALE_TEST_REPORT_DIR;

/** Arguments that are not options or option values: file names and name filters. */
function namesFilters(argv) {
  return argv.some((arg, i) => {
    if (arg.startsWith('-')) return false;
    const prev = argv[i - 1];
    return !(prev && prev.startsWith('-') && !prev.includes('='));
  });
}

function run(cmd, cmdArgs, opts = {}) {
  const res = spawnSync(cmd, cmdArgs, { stdio: 'inherit', cwd: ROOT, ...opts });
  if (res.error) {
    console.error(`test: cannot start ${cmd}: ${res.error.message}`);
    return 1;
  }
  return res.status ?? 1;
}

function vitest() {
  const extra = reportDir ? ['--reporter=default', '--reporter=json', `--outputFile=${join(reportDir, 'vitest.json')}`] : [];
  return run(join(ROOT, 'node_modules', '.bin', 'vitest'), ['run', ...extra, ...args]);
}

function pytest() {
  const setup = spawnSync('bash', [join(ROOT, 'test', 'interop', 'setup.sh'), '--client'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (setup.status !== 0) {
    console.error('test: the Python venv could not be set up (test/interop/setup.sh --client)');
    return 1;
  }
  const python = setup.stdout.trim().split('\n').pop();
  const junit = reportDir ? [`--junitxml=${join(reportDir, 'pytest.xml')}`] : [];
  console.log('\n== pytest (clients/python/tests)');
  const status = run(python, ['-m', 'pytest', '-p', 'no:cacheprovider', ...junit, 'tests'], { cwd: join(ROOT, 'clients', 'python') });
  if (status === 5) console.error('test: pytest collected no test');
  return status;
}

if (reportDir && !existsSync(reportDir)) mkdirSync(reportDir, { recursive: true });
const withPytest = process.env.WEBSCALE_PYTEST ? process.env.WEBSCALE_PYTEST === '1' : !namesFilters(args);
const statuses = [vitest()];
if (withPytest) statuses.push(pytest());
if (reportDir) console.log(summarize(reportDir));
process.exit(statuses.every((s) => s === 0) ? 0 : 1);
