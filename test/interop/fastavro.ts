/**
 * Test helper: decode Avro single-object records with Python fastavro (test/interop/decode.py),
 * an Avro implementation independent of ours that only reads schemas/. The venv is created on
 * first use by setup.sh (also `npm run interop:setup`). Used by the interop tests and the Kafka
 * end-to-end test on sink records.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SETUP = fileURLToPath(new URL('./setup.sh', import.meta.url));
const DECODE = fileURLToPath(new URL('./decode.py', import.meta.url));

let python: string | undefined;

/** Path of the venv's python with fastavro installed; installs it on the first call (can take a minute). */
export function fastavroPython(): string {
  python ??= execFileSync('bash', [SETUP], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').pop() ?? '';
  return python;
}

/** Decodes records with decode.py; throws (with decode.py's message) when any does not decode. */
export function fastavroDecode(records: readonly Buffer[], type?: string): { type: string; value: unknown }[] {
  const args = [DECODE, ...(type === undefined ? [] : ['--type', type])];
  const out = execFileSync(fastavroPython(), args, {
    input: records.map((r) => r.toString('base64')).join('\n') + '\n',
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
  });
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { type: string; value: unknown });
}

/** A record as decode.py prints it: Buffers become base64 strings, everything else JSON as is. */
export function asFastavroJson(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) => {
      const b = v as { type?: unknown; data?: unknown } | null;
      if (b && typeof b === 'object' && b.type === 'Buffer' && Array.isArray(b.data)) {
        return Buffer.from(b.data as number[]).toString('base64');
      }
      return v;
    }),
  );
}
