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

/**
 * pino's stdTimeFunctions.isoTime (`,"time":"<Date#toISOString()>"`), for less: the text up to the second is kept
 * while that second lasts, and only the milliseconds are written per call. Date#toISOString costs 0.5-0.8 µs on the
 * bench VM and every admission writes a line; this costs ~0.07 µs. Same text for every time (log-time.test.ts).
 */
let isoSecond = NaN;
let isoPrefix = '';
export function isoTime(now: number = Date.now()): string {
  if (!Number.isInteger(now)) return `,"time":"${new Date(now).toISOString()}"`; // Date.now() never is
  const second = Math.floor(now / 1000);
  if (second !== isoSecond) {
    const iso = new Date(second * 1000).toISOString();
    // Years past 9999 or before 0 are written with six digits and a sign: not worth a cache.
    if (iso.length !== 24) return `,"time":"${new Date(now).toISOString()}"`;
    isoSecond = second;
    isoPrefix = `,"time":"${iso.slice(0, 20)}`;
  }
  const ms = now - second * 1000;
  return `${isoPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
}

/** Marks the loggers made here: writeLine knows their line format (level label, time, bindings). */
const MADE_HERE = Symbol('mlrun-image-webhook logger');

export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { name: 'mlrun-image-webhook', ...options.base },
      // Collectors (Loki, Cloud Logging, ...) read an ISO time and a textual level more easily than epoch ms and 30.
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    options.destination ?? logDestination(),
  );
  (logger as unknown as PinoInternals)[MADE_HERE] = true;
  return logger;
}

/**
 * Where lines go by default (stdout): asynchronous writes, gathered. Each fs.write costs the event loop a thread-pool
 * round trip (two context switches on the Pod's CPU), once per line before, now once per LOG_BUFFER_BYTES of lines
 * (about 30 typical admission lines, 8 for a large Pod) or per LOG_FLUSH_MS, whichever comes first, so a line is on
 * stdout within a second. pino flushes what is left when the process exits; a SIGKILL or OOM kill loses at most that
 * second. LOG_MAX_BUFFERED_BYTES bounds what a stalled reader of stdout (a full pipe) can make the process hold: past
 * it, lines are dropped, not kept. LOG_BUFFER_BYTES stays under sonic-boom's maxWrite (16 KiB), as it must: 4 KiB
 * before, where large reviews' 1.9 KB lines made a write every two or three admissions (large h2, 5 rounds paired
 * with the floor: +124 -> +81 µs/req).
 */
export const LOG_BUFFER_BYTES = 16_000;
export const LOG_FLUSH_MS = 1000;
export const LOG_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export function logDestination(
  options: { dest?: number | string; minLength?: number; flushMs?: number; maxLength?: number } = {},
): DestinationStream & { flush(): void; flushSync(): void; on(event: string, listener: (...args: unknown[]) => void): unknown } {
  // sonic-boom's periodicFlush: an unref'd timer, cleared when the stream closes.
  return pino.destination({
    dest: options.dest ?? 1,
    sync: false,
    minLength: options.minLength ?? LOG_BUFFER_BYTES,
    maxLength: options.maxLength ?? LOG_MAX_BUFFERED_BYTES,
    periodicFlush: options.flushMs ?? LOG_FLUSH_MS,
  } as Parameters<typeof pino.destination>[0]);
}

type PinoInternals = Record<symbol, unknown>;

/**
 * Writes one line given its fields as JSON text (`,"key":value` for each member, in order): the same bytes as
 * `logger[level](object, msg)` gives for an object with those members, for a logger made by createLogger (its level
 * label, time format and bindings are read from the logger), without pino's per-call work (serializers, redaction,
 * generic stringification of an object built only to be stringified). For the per-admission line, written once per
 * request; test/server/log-line.test.ts compares it with pino's own line. One difference, on purpose: a lone UTF-16
 * surrogate in a top-level string is escaped (as JSON.stringify does) where pino would write it raw.
 */
export function writeLine(logger: Logger, level: Level, fields: string, msg: string): void {
  const l = logger as unknown as PinoInternals;
  // Another pino logger (its own formatters, hooks, transports): through pino, as an object.
  if (l[MADE_HERE] !== true) {
    logger[level](JSON.parse(`{${fields.slice(1)}}`) as object, msg);
    return;
  }
  const time = (l[pino.symbols.timeSym] as () => string)();
  const bindings = l[pino.symbols.chindingsSym] as string;
  (l[pino.symbols.streamSym] as DestinationStream).write(`{"level":"${level}"${time}${bindings}${fields},"msg":${JSON.stringify(msg)}}\n`);
}

/**
 * Calls `listener` for each line the logger's destination drops (logDestination: past LOG_MAX_BUFFERED_BYTES waiting
 * for a stdout nobody reads); returns the unsubscribe. A destination that never drops: nothing to listen to.
 */
export function onDroppedLines(logger: Logger, listener: () => void): () => void {
  const stream = (logger as unknown as PinoInternals)[pino.symbols.streamSym] as
    | { on?: (e: string, l: () => void) => unknown; removeListener?: (e: string, l: () => void) => unknown }
    | undefined;
  if (typeof stream?.on !== 'function' || typeof stream.removeListener !== 'function') return () => undefined;
  stream.on('drop', listener);
  return () => stream.removeListener!('drop', listener);
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
