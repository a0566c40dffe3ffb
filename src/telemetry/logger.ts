/**
 * The webhook's JSON logger (pino). One line per event; callers pass summaries, never whole Pods or
 * AdmissionReviews. Redaction is a second line of defence: should a whole object or an env list slip into a log
 * call anyway, its contents (env values can hold secrets) are replaced.
 */
import { pino, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger } from 'pino';

export type LogLevel = Level;

// Explicit paths, no wildcards: a wildcard path makes the redactor walk and copy every logged object, which
// doubled the cost of the per-admission line (measured with pino 10). These cover the shapes a careless log call
// would pass: a review ({ request }), a Pod or container ({ pod }, { container }), a parsed body ({ body }).
export const REDACT_PATHS = [
  'env',
  'value',
  'object',
  'oldObject',
  'body',
  'request.object',
  'request.oldObject',
  'review.request.object',
  'review.request.oldObject',
  'pod.spec',
  'container.env',
  'spec.containers',
  'spec.initContainers',
  'spec.ephemeralContainers',
];

export interface LoggerOptions {
  level?: LogLevel | 'silent';
  /** Where lines go; default stdout. Tests pass a stream to read lines back. */
  destination?: DestinationStream;
  /** Extra fields on every line. */
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { name: 'mlrun-image-webhook', ...options.base },
      // Collectors (Loki, Cloud Logging, ...) read an ISO time and a textual level more easily than epoch ms and 30.
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** Changes the level at run time (config reload). Unknown levels are ignored rather than thrown on. */
export function setLogLevel(logger: Logger, level: string | undefined): void {
  if (level && level !== logger.level && Object.hasOwn(logger.levels.values, level)) logger.level = level;
}

/** An error as a log field: message and code, stack only at debug (not on every warn line). */
export function errorFields(err: unknown): { message: string; code?: string } {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? { message: err.message, code } : { message: err.message };
  }
  return { message: String(err) };
}
