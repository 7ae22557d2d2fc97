/** A pino logger built like the process logger (`createLogger`) that writes to memory, for tests. */
import { Writable } from 'node:stream';
import { createLogger } from '../../src/core/logger.js';

/** A logger writing to memory; `lines()` parses what it wrote. */
export function captureLogger(level = 'debug') {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger(level, 'test', stream);
  return {
    logger,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

