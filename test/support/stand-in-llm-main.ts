/**
 * Runs the stand-in LLM server as its own process, for benchmarks and manual runs:
 *   node dist/test/support/stand-in-llm-main.js [--port N] [--latency MS] [--mode openai|tgi]
 *     [--fail-all 401|403|404|405|501|model_not_found] [--rpm N --tpm N [--burst-seconds S]]
 * Prints the base URL (ending in /v1) on stdout once listening; stops on SIGINT/SIGTERM.
 * Arguments are parsed with node:util's parseArgs: a few flags do not justify commander here.
 */
import { parseArgs } from 'node:util';
import { startStandInLlm, type StandInFailAll, type StandInMode } from './stand-in-llm.js';

const FAIL_ALL: Record<string, StandInFailAll> = { '401': 401, '403': 403, '404': 404, '405': 405, '501': 501, model_not_found: 'model_not_found' };

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '0' },
      latency: { type: 'string', default: '0' },
      mode: { type: 'string', default: 'openai' },
      'api-key': { type: 'string' },
      'fail-all': { type: 'string' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      'burst-seconds': { type: 'string' },
    },
  });
  const port = Number(values.port);
  const latencyMs = Number(values.latency);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new Error(`--latency must be milliseconds >= 0, got ${values.latency}`);
  if (values.mode !== 'openai' && values.mode !== 'tgi') throw new Error(`--mode must be openai or tgi, got ${values.mode}`);
  const failAll = values['fail-all'] === undefined ? undefined : FAIL_ALL[values['fail-all']];
  if (values['fail-all'] !== undefined && failAll === undefined) throw new Error(`--fail-all must be one of ${Object.keys(FAIL_ALL).join(', ')}`);
  const limit = (name: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${raw}`);
    return n;
  };
  const rpm = limit('rpm', values.rpm);
  const tpm = limit('tpm', values.tpm);
  const burstSeconds = limit('burst-seconds', values['burst-seconds']);
  if ((rpm === undefined) !== (tpm === undefined)) throw new Error('--rpm and --tpm go together (the rate-limit mode enforces both)');
  const server = await startStandInLlm({
    port,
    latencyMs,
    mode: values.mode as StandInMode,
    // A long benchmark must not keep every request body in memory.
    maxLog: 100,
    ...(values['api-key'] === undefined ? {} : { apiKey: values['api-key'] }),
    ...(failAll === undefined ? {} : { failAll }),
    ...(rpm === undefined || tpm === undefined ? {} : { rateLimit: { rpm, tpm, ...(burstSeconds === undefined ? {} : { burstSeconds }) } }),
  });
  process.stdout.write(`${server.url}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`stand-in LLM: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
