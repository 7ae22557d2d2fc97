/**
 * The one root pino logger. Logs go to stderr so stdout stays free for data (`tail`, `export -`).
 *
 * Secrets never reach a log line: every logged object, every child binding and every message runs
 * through `redact` (`redact.ts`), which works at any depth (pino's `redact` paths reach a fixed
 * depth: `*.token` misses `a.b.token`), inside strings (URL user-info, bearer tokens) and through
 * errors, whose `context` and whole `cause` chain are logged, redacted, under `err`.
 */
import { pino, type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { redact, redactString } from './redact.js';

function redactRecord(object: Record<string, unknown>): Record<string, unknown> {
  const out = redact(object);
  return typeof out === 'object' && out !== null && !Array.isArray(out) ? (out as Record<string, unknown>) : {};
}

/** The pino options that make a logger redact; exported for loggers built elsewhere (tests). */
export function loggerOptions(level: string, name = 'webscale-rl'): LoggerOptions {
  return {
    name,
    level,
    formatters: {
      // Runs before the serializers, on the whole merge object: `{ config }`, `{ err }`, kafkajs's
      // log entries, anything.
      log: redactRecord,
      // Root bindings only (pid, hostname, name): pino resets this formatter for children, whose
      // bindings `withRedactedChildren` redacts instead.
      bindings: redactRecord,
    },
    serializers: {
      // `formatters.log` has already turned errors into redacted plain objects; this keeps pino's
      // default error serializer from re-reading them, and covers a binding named `err`.
      err: redact,
      msg: (msg: unknown) => (typeof msg === 'string' ? redactString(msg) : redact(msg)),
    },
  };
}

/** The process logger, JSON on stderr; `destination` replaces stderr (tests capture lines with it). */
export function createLogger(level: string, name = 'webscale-rl', destination?: DestinationStream): Logger {
  return withRedactedChildren(pino(loggerOptions(level, name), destination ?? pino.destination({ fd: 2, sync: false })));
}

/**
 * Child bindings (`logger.child({ stage })`) are serialized once, when the child is made, and
 * pass neither `formatters.log` nor `formatters.bindings`. Children are created with
 * `Object.create(parent)`, so a `child` set on the root is inherited by every descendant.
 */
export function withRedactedChildren(logger: Logger): Logger {
  const child: Logger['child'] = logger.child;
  Object.defineProperty(logger, 'child', {
    configurable: true,
    writable: true,
    value: function redactedChild(this: Logger, bindings: Bindings, options?: ChildLoggerOptions): Logger {
      return Reflect.apply(child, this, [redactRecord(bindings), options]) as Logger;
    },
  });
  return logger;
}
