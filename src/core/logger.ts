/**
 * The one root pino logger. Logs go to stderr so stdout stays free for data (`tail`, `export -`).
 * Tokens and API keys are redacted wherever they appear in a logged object.
 */
import { pino, type Logger } from 'pino';

export const REDACT_PATHS = [
  'token',
  'apiKey',
  '*.token',
  '*.apiKey',
  'config.llm.token',
  'config.llm.apiKey',
  'headers.authorization',
  '*.headers.authorization',
];

export function createLogger(level: string, name = 'webscale-rl'): Logger {
  return pino(
    { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    pino.destination({ fd: 2, sync: false }),
  );
}
