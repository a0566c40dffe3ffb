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
 * stdout within a second. Lines still waiting are written when the process exits (pino's exit hook calls flushSync);
 * a SIGKILL or OOM kill loses at most that second. LOG_MAX_BUFFERED_BYTES bounds what a stalled reader of stdout (a
 * full pipe) can make the process hold: past it, lines are dropped, not kept (besides the two batch buffers the lines
 * are gathered in, LOG_MAX_WRITE_BYTES each, one of them possibly the write in progress). 16 KB, not 4 KiB as
 * before: large reviews' 1.9 KB lines made a write every two or three admissions (large h2, 5 rounds paired with
 * the floor: +124 -> +81 µs/req).
 */
export const LOG_BUFFER_BYTES = 16_000;
export const LOG_FLUSH_MS = 1000;
export const LOG_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/**
 * The most one write takes of the batches waiting (sonic-boom's maxWrite, 16 KiB by default). sonic-boom starts the
 * next write when the last one's callback runs, once per event-loop turn: at 16 KiB a write, a loop whose turns take
 * milliseconds (32 HTTP/1.1 connections sending large reviews) wrote less than it logged, and lines were dropped with
 * stdout read as fast as it was written. 64 KiB (a Linux pipe's default capacity) kept up there (0 of 13,184 lines
 * dropped). Not more: stdout is non-blocking, and when a write is cut short by a full pipe sonic-boom keeps its rest
 * aside for a retry that pino's exit hook (flushSync) skips, so a forced exit while stdout is backed up can lose up to
 * this much (it lost up to 1 MiB, from the middle of the log, when this was 1 MiB).
 */
export const LOG_MAX_WRITE_BYTES = 64 * 1024;
/** Room in the batch buffer past minLength, for the line that crosses it (gatherLines). */
const BATCH_SLACK_BYTES = 4096;

type Destination = DestinationStream & {
  flush(cb?: ((err?: Error) => void) | null): void;
  flushSync(): void;
  end(): void;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
};
/** What gatherLines reads of sonic-boom beyond a Destination (its private state: pinned with pino's version). */
type SonicBoom = Destination & {
  destroyed?: boolean;
  minLength: number;
  _len: number;
  _writing: boolean;
  _bufs: unknown[];
  _writingBuf: { length: number };
};

export function logDestination(
  options: { dest?: number | string; minLength?: number; flushMs?: number; maxLength?: number } = {},
): Destination {
  // sonic-boom's periodicFlush: an unref'd timer, cleared when the stream closes. It writes whatever it is handed
  // (minLength 0): the lines are gathered in front of it (gatherLines).
  const stream = pino.destination({
    dest: options.dest ?? 1,
    sync: false,
    minLength: 0,
    maxLength: options.maxLength ?? LOG_MAX_BUFFERED_BYTES,
    maxWrite: LOG_MAX_WRITE_BYTES,
    periodicFlush: options.flushMs ?? LOG_FLUSH_MS,
    // Written Buffers only (gatherLines encodes every line): sonic-boom encodes nothing, before or after a write (on
    // Node 22.7 and later it copies each write once before fs.write).
    contentMode: 'buffer',
  } as Parameters<typeof pino.destination>[0]) as unknown as SonicBoom;
  gatherLines(stream, options.minLength ?? LOG_BUFFER_BYTES);
  return stream;
}

/**
 * Lines are encoded into one UTF-8 batch buffer as they come and handed to sonic-boom as one Buffer per `minLength`
 * bytes (sonic-boom in its Buffer mode), rather than left to sonic-boom's own minLength.
 * - Not sonic-boom's own batching: it appends each line to its pending string and then measures that string's UTF-8
 *   length, which flattens it: a copy of the whole pending batch per line (60074ac).
 * - Not a list of the line strings, joined per batch (60074ac to this change): a line is built by concatenation, a
 *   tree of string pieces, and the list kept each tree alive until its batch was written, across scavenges: a large
 *   review's line made the webhook's GC time per request half as much again as without the line. sonic-boom then
 *   encoded the joined text for the write and encoded it again after it (releaseWritingBuf's Buffer.from).
 * Here a line is encoded once, into a buffer outside the V8 heap, and its string dies young. The batch is handed
 * over once it reaches `minLength` bytes and sonic-boom is idle: the buffer itself, written from that memory, and
 * the lines gather in a second one meanwhile. While a write is in flight they keep gathering (up to one write's
 * worth), and go when it is done; a batch that stops fitting before then is copied out at its exact size into
 * sonic-boom's queue, so that what waits for a slow stdout is what maxLength counts. A line that does not fit in the
 * buffer's room first sends the lines before it; one longer than the whole buffer then goes alone. The same stream
 * object is returned (pino's exit hook, the 'drop' and 'error' events and periodicFlush stay sonic-boom's): its
 * write, flush, flushSync and end are wrapped on the instance, so every line, pino's and writeLine's, goes through
 * the same buffer, in order.
 */
function gatherLines(stream: SonicBoom, minLength: number): void {
  const write = stream.write as unknown as (data: Buffer) => boolean;
  const flush = stream.flush;
  const flushSync = stream.flushSync;
  const end = stream.end;
  // While a write is in flight the lines keep gathering here, up to one write's worth (LOG_MAX_WRITE_BYTES).
  const capacity = Math.max(minLength + BATCH_SLACK_BYTES, LOG_MAX_WRITE_BYTES);
  // Two buffers, taking turns: one is being written, the lines gather in the other.
  const buffers = [Buffer.allocUnsafeSlow(capacity), Buffer.allocUnsafeSlow(capacity)] as const;
  let batch: Buffer = buffers[0];
  let length = 0;
  // After end(), lines go straight to sonic-boom, which still writes what it is given while it ends.
  let ending = false;
  /**
   * sonic-boom writes nothing and holds nothing: the buffer handed over last is free again. A failed write leaves
   * its bytes in _writingBuf with _writing false (they go first at the next write), so that counts as holding.
   */
  const idle = () => !stream._writing && stream._bufs.length === 0 && stream._writingBuf.length === 0;
  /**
   * Hands the gathered lines to sonic-boom. When it is idle, the buffer itself goes (written at once, from this very
   * memory) and the lines gather in the other one. Otherwise they are copied out at their exact size and wait in its
   * queue (bounded by maxLength), as they always did. Handing over only when it is idle is what keeps the log path
   * from allocating per batch under load: a batch Buffer per 16 KB of lines, waiting in sonic-boom's queue for the
   * write before it, lived across two scavenges, and these promoted Buffers brought a mark-compact every 1,500-2,000
   * large admissions over HTTP/1.1 (7-8 per 12,000, 1-3 without them; docs/performance.md).
   */
  const handOver = () => {
    if (length === 0) return;
    if (stream.destroyed) {
      // A stream already closed has nowhere to put them (its timer can still fire once).
      length = 0;
      return;
    }
    let out: Buffer;
    if (idle()) {
      out = batch.subarray(0, length);
      batch = batch === buffers[0] ? buffers[1] : buffers[0];
    } else {
      out = Buffer.allocUnsafeSlow(length);
      batch.copy(out, 0, 0, length);
    }
    length = 0;
    write.call(stream, out);
  };
  /** A batch is due at minLength bytes, once sonic-boom is idle (until then the lines wait in this buffer). */
  const handOverIfDue = () => {
    if (length >= minLength && idle()) handOver();
  };
  // The lines that gathered behind a write go when it is done (sonic-boom says so before it updates its state:
  // looked at once its callback has run), not only with the next line or the periodic flush.
  const afterWrite = () => process.nextTick(handOverIfDue);
  stream.on('write', afterWrite);
  // A path destination that opens (or reopens) becomes idle without a write.
  stream.on('ready', afterWrite);
  stream.write = function (line: string) {
    // Closed: sonic-boom's own answer (it throws), as before the lines were gathered. Ending: nothing hands over later.
    if (stream.destroyed || ending) return write.call(stream, Buffer.from(line));
    // A UTF-16 unit is at most 3 UTF-8 bytes: the exact length is needed only near the end of the buffer.
    if (line.length * 3 > capacity - length) {
      const bytes = Buffer.byteLength(line);
      if (bytes > capacity - length) {
        handOver();
        if (bytes > capacity) {
          write.call(stream, Buffer.from(line));
          return true;
        }
      }
    }
    length += batch.write(line, length);
    // While a write is in flight, the lines wait here (handed over when they stop fitting, after that write, or at
    // the periodic flush).
    handOverIfDue();
    return true;
  } as Destination['write'];
  /** Runs `f` with sonic-boom's minLength (0 otherwise) set to `value`: what its flush and write decide by. */
  const withMinLength = <T>(value: number, f: () => T): T => {
    const saved = stream.minLength;
    stream.minLength = value;
    try {
      return f();
    } finally {
      stream.minLength = saved;
    }
  };
  stream.flush = function (cb) {
    handOver();
    // Nothing waiting or being written (sonic-boom's byte count): nothing to wait for. Through sonic-boom, a flush
    // with a callback before a path destination is open would have it write an empty queue once it opens, which
    // throws in its Buffer mode (mergeBuf of nothing).
    if (cb && stream._len === 0) return void process.nextTick(cb);
    // With minLength 0 sonic-boom calls cb at once; above 0, once what it was handed is written.
    return cb ? withMinLength(1, () => flush.call(stream, cb)) : flush.call(stream, cb);
  };
  stream.flushSync = function () {
    // Handed over without starting an asynchronous write (no minLength reached): flushSync then writes them, in
    // order, at once. (An asynchronous write started here would be lost at exit, where flushSync is called.)
    withMinLength(Infinity, handOver);
    return flushSync.call(stream);
  };
  stream.end = function () {
    ending = true;
    handOver();
    return end.call(stream);
  };
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
    | { on?: (e: string, l: (data: unknown) => void) => unknown; removeListener?: (e: string, l: (data: unknown) => void) => unknown }
    | undefined;
  if (typeof stream?.on !== 'function' || typeof stream.removeListener !== 'function') return () => undefined;
  // What is dropped is a batch of gathered lines (logDestination: a Buffer): the listener hears of each line in it.
  const each = (data: unknown) => {
    let lines = 0;
    if (typeof data === 'string') for (let i = data.indexOf('\n'); i !== -1; i = data.indexOf('\n', i + 1)) lines++;
    else if (Buffer.isBuffer(data)) for (let i = data.indexOf(0x0a); i !== -1; i = data.indexOf(0x0a, i + 1)) lines++;
    for (let i = Math.max(lines, 1); i > 0; i--) listener();
  };
  stream.on('drop', each);
  return () => stream.removeListener!('drop', each);
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
  // Anything can be thrown: String() itself throws on an object without a prototype or with a throwing toString.
  try {
    return { message: String(err) };
  } catch {
    return { message: `a thrown ${typeof err} that cannot be printed` };
  }
}
