/**
 * Where the package lives on disk, so bundled data (`data/fewshot`) and the version in
 * `package.json` are found the same way from `src/` (tests, tsx) and from `dist/src/` (the
 * installed binary): walk up from this module until the project's package.json appears.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'webscale-rl';

function findPackageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown };
        if (pkg.name === PACKAGE_NAME) return dir;
      } catch {
        // Not ours or unreadable: keep walking up.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

const ROOT = findPackageRoot();

/** The package root (the folder holding webscale-rl's package.json). */
export function packageRoot(): string {
  if (ROOT === null) throw new Error(`cannot find the ${PACKAGE_NAME} package.json above ${fileURLToPath(import.meta.url)}`);
  return ROOT;
}

function readVersion(): string {
  if (ROOT === null) return '0.0.0';
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

/** The pipeline version recorded in every sink record's provenance: package.json's version. */
export const PIPELINE_VERSION: string = readVersion();

/** Our bundled few-shot library. */
export function defaultFewshotDir(): string {
  return join(packageRoot(), 'data', 'fewshot');
}
