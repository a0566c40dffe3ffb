/**
 * The default log destination (src/telemetry/logger.ts logDestination): lines are gathered and written in batches,
 * a lone line still reaches its file within the flush interval, and a reader that never drains cannot make the
 * process hold more than maxLength bytes. Real files, no fake timers; waits are for events with generous bounds.
 */
import fs, { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, LOG_MAX_WRITE_BYTES, logDestination, onDroppedLines, writeLine } from '../../src/telemetry/logger.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { testRuntime } from '../helpers/runtime.js';
import { metricValue, startTestServer, tempDir, upTo } from './helpers.js';

const WAIT = { timeout: 15_000, interval: 20 };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function file(): Promise<string> {
  const t = await tempDir('logdest');
  cleanups.push(t.cleanup);
  return path.join(t.dir, 'out.log');
}

/** A destination writing to a new file, with a logger on it; ended after the test (not yet open: see opened). */
async function destination(options: Omit<NonNullable<Parameters<typeof logDestination>[0]>, 'dest'>) {
  const f = await file();
  const dest = logDestination({ ...options, dest: f });
  cleanups.push(() => {
    if ((dest as unknown as { destroyed?: boolean }).destroyed) return undefined; // the test ended it
    return new Promise<void>((resolve) => {
      dest.on('close', () => resolve());
      dest.flushSync();
      dest.end();
    });
  });
  return { f, dest, logger: createLogger({ destination: dest }) };
}

/** destination(), once the file is open (its 'ready' came). */
async function opened(options: Omit<NonNullable<Parameters<typeof logDestination>[0]>, 'dest'>) {
  const d = await destination(options);
  await new Promise((r) => d.dest.on('ready', r));
  return d;
}

const read = (f: string) => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

/** The lines in the file so far, parsed. */
const lines = (f: string): Array<Record<string, unknown>> => read(f).split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('logDestination', () => {
  it('holds a short line back (no write per line) and writes it within the flush interval', async () => {
    const { f, logger } = await opened({ flushMs: 3000 });
    logger.info({ uid: 'u1' }, 'admission');
    // A write per line would be in the file by now (an asynchronous write of one line takes well under 300 ms);
    // the flush interval (3 s) is not over, so a held line is not.
    await new Promise((r) => setTimeout(r, 300));
    expect(read(f)).toBe('');
    await vi.waitFor(() => expect(read(f)).toContain('"uid":"u1"'), WAIT);
  });

  it('writes as soon as the gathered lines reach minLength, without waiting for the interval', async () => {
    const { f, logger } = await opened({ minLength: 1024, flushMs: 600_000 });
    for (let i = 0; i < 20; i++) logger.info({ i, pad: 'x'.repeat(100) }, 'line');
    await vi.waitFor(() => expect(lines(f).length).toBeGreaterThanOrEqual(8), WAIT);
  });

  it('writes every line whole and in order: pino lines and writeLine lines, any UTF-8, across many batches', async () => {
    const { f, logger } = await opened({ minLength: 512, flushMs: 200 });
    const texts = ['plain', 'é ü ß', '日本語のテキスト', '😀 emoji', 'quote " and \\ backslash', 'x'.repeat(3000)];
    for (let i = 0; i < 300; i++) {
      const text = texts[i % texts.length]!;
      if (i % 2) logger.info({ i, text }, 'pino');
      else writeLine(logger, 'info', `,"i":${i},"text":${JSON.stringify(text)}`, 'line');
    }
    await vi.waitFor(() => expect(lines(f)).toHaveLength(300), WAIT);
    lines(f).forEach((l, i) => {
      expect(l.i).toBe(i);
      expect(l.text).toBe(texts[i % texts.length]);
      expect(l.msg).toBe(i % 2 ? 'pino' : 'line');
    });
  });

  it('writes a line whole when its UTF-8 does not fit beside the lines gathered, and one larger than the buffer alone', async () => {
    // The batch buffer holds one write's worth (LOG_MAX_WRITE_BYTES, 64 KiB). A ~390-byte line stays gathered; the
    // next, 21,800 CJK characters (~65,400 bytes), fits beside it by characters but not by bytes, so the batch must
    // go first. 16,500 emoji (66,000 bytes) and 70,000 ASCII characters exceed the buffer and go alone.
    const { f, logger } = await opened({ minLength: 512, flushMs: 200 });
    const texts = ['a'.repeat(300), '日'.repeat(21_800), 'é', '😀'.repeat(16_500), 'b'.repeat(70_000), 'ü'.repeat(1500)];
    for (let i = 0; i < 36; i++) writeLine(logger, 'info', `,"i":${i},"text":${JSON.stringify(texts[i % texts.length])}`, 'line');
    await vi.waitFor(() => expect(lines(f)).toHaveLength(36), WAIT);
    lines(f).forEach((l, i) => {
      expect(l.i).toBe(i);
      expect(l.text).toBe(texts[i % texts.length]);
    });
  });

  it('while a write is in flight, gathers the lines in its second buffer instead of handing a Buffer per batch', async () => {
    const { f, dest, logger } = await opened({ minLength: 1024, flushMs: 600_000 });
    // sonic-boom's queue of handed-over Buffers (Buffer mode: groups of Buffers, one group per write).
    const queued = () => (dest as unknown as { _bufs: Buffer[][] })._bufs.flat();
    // ~170 KB in one synchronous run: the first 1 KB goes at once; the rest waits for that write in the batch buffer,
    // and each time it fills (64 KiB) it is copied into one Buffer: two waiting. A Buffer per 1 KB batch would be
    // well over a hundred.
    for (let i = 0; i < 1000; i++) logger.info({ i, pad: 'x'.repeat(60) }, 'line');
    expect(queued().length).toBeLessThanOrEqual(2);
    for (const b of queued()) expect(b.length).toBeLessThanOrEqual(LOG_MAX_WRITE_BYTES);
    // The rest goes once the write in flight is done, without another line or the periodic flush.
    await vi.waitFor(() => expect(lines(f)).toHaveLength(1000), WAIT);
    lines(f).forEach((l, i) => expect(l.i).toBe(i));
  });

  it('lines logged while a file destination opens are written once it is open, not at the next flush', async () => {
    const { f, logger } = await destination({ minLength: 1024, flushMs: 600_000 });
    // Before 'ready': sonic-boom is busy opening, so the lines gather; it becomes idle without any write.
    for (let i = 0; i < 20; i++) logger.info({ i, pad: 'x'.repeat(150) }, 'line');
    await vi.waitFor(() => expect(lines(f)).toHaveLength(20), WAIT);
  });

  it('a failed write keeps its buffer: the lines after it never overwrite the bytes sonic-boom retries', async () => {
    const { f, dest, logger } = await opened({ minLength: 512, flushMs: 600_000 });
    dest.on('error', () => undefined); // a listener keeps sonic-boom going after the failed write
    const real = fs.write;
    let failed = false;
    // The first write fails (EIO): sonic-boom keeps its bytes and writes them first at the next write.
    const spy = vi.spyOn(fs, 'write').mockImplementation(((...args: unknown[]) => {
      if (!failed) {
        failed = true;
        const cb = args[args.length - 1] as (err: Error) => void;
        return void process.nextTick(() => cb(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })));
      }
      return (real as (...a: unknown[]) => void)(...args);
    }) as typeof fs.write);
    cleanups.push(() => spy.mockRestore());
    let i = 0;
    for (let turn = 0; turn < 6; turn++) {
      for (let k = 0; k < 10; k++, i++) logger.info({ i, pad: 'y'.repeat(100) }, 'line');
      await new Promise((r) => setTimeout(r, 20));
    }
    logger.flush();
    await vi.waitFor(() => expect(lines(f)).toHaveLength(i), WAIT);
    lines(f).forEach((l, n) => expect(l.i).toBe(n));
  });

  it('one write takes several batches when more than a batch waits (not 16 KiB a turn): every line written', async () => {
    // sonic-boom starts one write per finished write, so once per event-loop turn at most; 80 KB logged per turn
    // at its default 16 KiB a write piled up (the webhook dropped lines so under load). The first batch of a turn is
    // being written while the rest wait: the next write must take them together.
    const { f, dest, logger } = await opened({ flushMs: 600_000 });
    let largest = 0;
    dest.on('write', (n: unknown) => (largest = Math.max(largest, n as number)));
    const pad = 'x'.repeat(950);
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 80; i++) logger.info({ turn, i, pad }, 'line');
      await new Promise((r) => setImmediate(r));
    }
    logger.flush();
    await vi.waitFor(() => expect(lines(f)).toHaveLength(1600), WAIT);
    expect(largest).toBeGreaterThan(32 * 1024); // two batches or more in one write (a batch is ~17 KB)
    expect(largest).toBeLessThanOrEqual(LOG_MAX_WRITE_BYTES);
  });

  it('holds only the bytes of the lines waiting, not a batch buffer per batch', async () => {
    const { dest, logger } = await opened({ flushMs: 600_000 });
    const before = process.memoryUsage().arrayBuffers;
    // Each line handed over on its own (flush), as a quiet server's periodic flush does: ~120 bytes a batch. In one
    // synchronous run the first is being written and the rest wait in sonic-boom, as for a reader that is not reading.
    for (let i = 0; i < 3000; i++) {
      logger.info({ i }, 'line');
      dest.flush();
    }
    const held = process.memoryUsage().arrayBuffers - before;
    // ~3,000 waiting batches of ~120 bytes (~0.35 MiB); a batch buffer (64 KiB) each would be ~190 MiB.
    expect(held).toBeLessThan(4 * 1024 * 1024);
  });

  it('flush with a callback before a file destination is open, nothing logged: calls back, nothing thrown', async () => {
    const f = await file();
    const dest = logDestination({ dest: f, flushMs: 600_000 });
    const closed = new Promise((r) => dest.on('close', r));
    await new Promise<void>((resolve, reject) => dest.flush((err) => (err ? reject(err) : resolve())));
    // Opened after the callback: sonic-boom's own flush would write an empty queue now, which throws in Buffer mode.
    await new Promise((r) => (dest as unknown as { fd: number }).fd >= 0 ? r(undefined) : dest.on('ready', r));
    await new Promise((r) => setTimeout(r, 50));
    dest.end();
    await closed;
  });

  it('flushSync writes the lines still gathered, at once and in order (pino calls it at exit)', async () => {
    const { f, dest, logger } = await opened({ minLength: 1_000_000, flushMs: 600_000 });
    for (let i = 0; i < 50; i++) logger.info({ i }, 'line');
    expect(read(f)).toBe('');
    // sonic-boom reports each asynchronous write it finishes; flushSync's own writes are not reported.
    let asyncWrites = 0;
    dest.on('write', () => asyncWrites++);
    dest.flushSync();
    expect(lines(f).map((l) => l.i)).toEqual(upTo(50));
    // Synchronously, not handed to an asynchronous write: at exit no event loop is left to finish one.
    await new Promise((r) => setTimeout(r, 300));
    expect(asyncWrites).toBe(0);
  });

  it('lines logged after end() while a batch is being written still reach the file, in order', async () => {
    const { f, dest, logger } = await opened({ minLength: 1024, flushMs: 600_000 });
    for (let i = 0; i < 10; i++) logger.info({ i, pad: 'x'.repeat(200) }, 'before');
    const closed = new Promise((r) => dest.on('close', r));
    dest.end();
    logger.info({ i: 10 }, 'after end');
    await closed;
    expect(lines(f).map((l) => l.i)).toEqual(upTo(11));
  });

  it('flush(cb) calls back once the gathered lines are written, not before', async () => {
    const { f, dest, logger } = await opened({ flushMs: 600_000 });
    for (let i = 0; i < 10; i++) logger.info({ i, pad: 'x'.repeat(1000) }, 'line');
    // sonic-boom reports a finished asynchronous write on the event loop: a callback made before it came too early.
    let written = false;
    dest.on('write', () => (written = true));
    const after = await new Promise<boolean>((resolve) => logger.flush(() => resolve(written)));
    expect(after).toBe(true);
    expect(lines(f)).toHaveLength(10);
  });

  it('drops lines past maxLength instead of holding them, and tells onDroppedLines of each line', async () => {
    const { f, logger } = await opened({ minLength: 512, maxLength: 1000, flushMs: 600_000 });
    let dropped = 0;
    let heard = 0;
    onDroppedLines(logger, () => dropped++);
    const stop = onDroppedLines(logger, () => heard++);
    // Two lines (~400 bytes each) make a batch, written at once. The next ones gather behind that write until they
    // fill the 64 KiB buffer; then they go to sonic-boom's queue, which holds at most 1,000 bytes: dropped, each
    // line counted.
    const logged = 200;
    for (let i = 0; i < logged; i++) logger.info({ i, pad: 'x'.repeat(300) }, 'line');
    expect(dropped).toBeGreaterThan(100);
    expect(heard).toBe(dropped);
    // Unsubscribed: further drops are not reported to that listener.
    stop();
    for (let i = 0; i < 200; i++) logger.info({ pad: 'x'.repeat(400) }, 'more');
    expect(dropped).toBeGreaterThan(heard);
    // Every line was written whole or counted as dropped.
    logger.flush();
    await vi.waitFor(() => expect(lines(f).length + dropped).toBe(logged + 200), WAIT);
    for (const l of lines(f)) expect(['line', 'more']).toContain(l.msg);
  });

  it('the server counts dropped lines in mlrun_image_webhook_log_lines_dropped_total', async () => {
    // Room for nothing: the server's start-up line is already too much (and handed over at once).
    const { logger } = await opened({ minLength: 64, maxLength: 50, flushMs: 600_000 });
    const metrics = createMetrics({ defaultMetrics: false });
    const server = await startTestServer(testRuntime(), { logger, metrics });
    await server.close();
    expect(metricValue(await metrics.registry.metrics(), 'mlrun_image_webhook_log_lines_dropped_total')).toBeGreaterThanOrEqual(1);
  });
});
