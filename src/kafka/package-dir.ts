/**
 * Finds folders that ship beside the code (`schemas/`, `topics/`): walks up from this module
 * until it meets the package root, so the same lookup works from `src/` under vitest and from
 * `dist/src/` after a build or an npm install.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebscaleError } from '../core/errors.js';

/** Absolute path of `name` in the package root (the folder holding package.json and `name`). */
export function packageDir(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, name);
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new WebscaleError('INTERNAL', `cannot find the ${name}/ folder of the webscale-rl package`, {
        context: { from: fileURLToPath(import.meta.url) },
      });
    }
    dir = parent;
  }
}
