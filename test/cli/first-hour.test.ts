/**
 * What a new user meets first on the command line: the version, every missing flag named at once,
 * a missing input file in words rather than errno codes, and `--output -` writing no file the
 * user did not name while the summary says where everything went.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStandInLlm, type StandInLlm } from '../support/stand-in-llm.js';
import { runCli } from '../support/cli.js';

let llm: StandInLlm;
let dir: string;

beforeAll(async () => {
  llm = await startStandInLlm({ latencyMs: 1 });
  dir = await mkdtemp(join(tmpdir(), 'wsrl-first-hour-'));
});
afterAll(async () => {
  await llm.close();
});

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('the first hour on the command line', () => {
  it('--version and -V print the package version and exit 0', async () => {
    for (const flag of ['--version', '-V']) {
      const res = await runCli([flag]);
      expect(res.code).toBe(0);
      expect(res.stdout.trim()).toBe(version);
    }
  });

  it('run without --input and --output names both at once, exit 2', async () => {
    const res = await runCli(['run']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/missing required options --input and --output/);
    const one = await runCli(['run', '--input', 'x.jsonl']);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/missing required option --output/);
    expect(one.stderr).not.toMatch(/--input/);
  });

  it('a missing input file is said in words, with no errno code, exit 2', async () => {
    const res = await runCli(['run', '--input', join(dir, 'nope.jsonl'), '--output', join(dir, 'out.jsonl'), '--llm-url', llm.url, '--llm-model', 'stand-in']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('nope.jsonl');
    expect(res.stderr).toMatch(/no such file or folder/);
    expect(res.stderr).not.toMatch(/ENOENT/);
  });

  it('--output - writes no file the user did not name, and the summary says where results went', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'wsrl-cwd-'));
    const input = join(dir, 'two.jsonl');
    await writeFile(input, [JSON.stringify({ id: 'short-1', text: 'far too short' }), JSON.stringify({ id: 'short-2', text: 'also too short here' })].join('\n') + '\n');
    const res = await runCli(['run', '--input', input, '--output', '-', '--llm-url', llm.url, '--llm-model', 'stand-in'], { cwd });
    expect(res.code).toBe(0);
    expect(await readdir(cwd)).toEqual([]);
    expect(res.stderr).toMatch(/outputs: QA records -> stdout; rejections -> not written \(name a file with --rejections\)/);

    const named = join(dir, 'named-rej.jsonl');
    const withRej = await runCli(['run', '--input', input, '--output', '-', '--rejections', named, '--llm-url', llm.url, '--llm-model', 'stand-in'], { cwd });
    expect(withRej.code).toBe(0);
    expect(withRej.stderr).toContain(`rejections -> ${named}`);
    expect(readFileSync(named, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(await readdir(cwd)).toEqual([]);
  });
});
