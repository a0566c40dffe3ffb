import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/telemetry/logger.js';

const reference = (now: number) => `,"time":"${new Date(now).toISOString()}"`;

describe('isoTime (the log lines\' time)', () => {
  it("is pino's isoTime text for any time, in any order of calls (the cached second never leaks)", () => {
    const YEAR_9999_END = 253_402_300_799_999;
    const time = fc.oneof(
      fc.integer({ min: -62_167_219_200_000, max: YEAR_9999_END }), // years 0000-9999
      fc.integer({ min: 1_700_000_000_000, max: 1_700_000_003_000 }), // a few seconds: cache hits and boundaries
      fc.integer({ min: -8_640_000_000_000_000, max: 8_640_000_000_000_000 }), // every time a Date holds (signed years)
      fc.double({ min: 0, max: YEAR_9999_END, noNaN: true }), // not an integer: never from Date.now()
    );
    fc.assert(
      fc.property(fc.array(time, { minLength: 1, maxLength: 20 }), (times) => {
        for (const t of times) expect(isoTime(t)).toBe(reference(t));
      }),
      { numRuns: 2000 },
    );
    for (const t of [999, 1000, 1001, -1, -1000, -1001, 0, 1_700_000_000_999, 1_700_000_001_000]) expect(isoTime(t)).toBe(reference(t));
  });

  it("without an argument: now, in pino's own format", () => {
    const before = Date.now();
    const text = isoTime();
    const after = Date.now();
    const at = Date.parse(JSON.parse(`{${text.slice(1)}}`).time);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
    expect(text).toMatch(/^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
    expect(pino.stdTimeFunctions.isoTime().length).toBe(text.length);
  });
});
