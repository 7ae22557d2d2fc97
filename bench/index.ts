/**
 * `npm run bench`: builds nothing itself (the npm script builds first), runs the selected
 * benchmark modes, prints a report on stdout and writes `<out>/<mode>.json`. A benchmark prints
 * figures; it never fails on a slow result (only on a broken run), so it does not gate CI.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dedupMode } from './dedup.js';
import { embeddedMode } from './embedded.js';
import { exportMode } from './export.js';
import { ingestMode } from './ingest.js';
import { kafkaMode } from './kafka.js';
import { sourcesMode } from './sources.js';
import { prefilterMode } from './prefilter.js';
import { pyclientMode } from './pyclient.js';
import { resplogMode } from './resplog.js';
import type { BenchMode } from './modes.js';
import { USAGE, parseBenchOptions } from './options.js';

/** Every mode, in the order they run. Register new modes here. */
export const MODES: readonly BenchMode[] = [embeddedMode, kafkaMode, prefilterMode, pyclientMode, exportMode, dedupMode, ingestMode, sourcesMode, resplogMode];

async function main(): Promise<number> {
  const options = parseBenchOptions(process.argv.slice(2));
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const wanted = options.only ?? MODES.filter((m) => m.implemented).map((m) => m.name);
  const modes: BenchMode[] = [];
  for (const name of wanted) {
    const mode = MODES.find((m) => m.name === name);
    if (mode === undefined) throw new Error(`unknown mode ${JSON.stringify(name)}; known: ${MODES.map((m) => m.name).join(', ')}`);
    if (!mode.implemented) throw new Error(`mode ${name} is not implemented yet (see bench/${name}.ts)`);
    modes.push(mode);
  }

  const outDir = resolve(options.outDir);
  await mkdir(outDir, { recursive: true });
  for (const mode of modes) {
    const workDir = options.keep ? join(outDir, 'work', mode.name) : await mkdtemp(join(tmpdir(), `webscale-bench-${mode.name}-`));
    await mkdir(workDir, { recursive: true });
    try {
      process.stdout.write(`== ${mode.name}: ${mode.description}\n\n`);
      const result = await mode.run({ options, workDir, progress: (line) => process.stderr.write(`[bench ${mode.name}] ${line}\n`) });
      process.stdout.write(result.report.join('\n') + '\n');
      const file = join(outDir, `${mode.name}.json`);
      await writeFile(file, JSON.stringify({ mode: mode.name, finished_at: new Date().toISOString(), ...result.json }, null, 2) + '\n');
      process.stdout.write(`results: ${file}\n\n`);
    } finally {
      if (!options.keep) await rm(workDir, { recursive: true, force: true });
    }
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
