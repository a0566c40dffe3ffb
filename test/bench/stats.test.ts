import { describe, expect, it } from 'vitest';
import { median, medianInterval, verdict } from '../../bench/stats.mjs';

const ranks = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** P(B ≤ k), B ~ Binomial(n, 1/2), exactly (BigInt), as a number. */
function exactCdf(n: number, k: number): number {
  let c = 1n;
  let sum = 0n;
  for (let i = 0; i <= k; i++) {
    sum += c;
    c = (c * BigInt(n - i)) / BigInt(i + 1);
  }
  return Number((sum * 10n ** 15n) / 2n ** BigInt(n)) / 1e15;
}

describe('medianInterval', () => {
  // Ranks of the 95 % distribution-free interval for a median, as in the usual tables (e.g. Conover, Table A3).
  it.each([
    [6, 1, 6],
    [9, 2, 8],
    [15, 4, 12],
    [20, 6, 15],
    [30, 10, 21],
    [50, 18, 33],
  ])('n = %i: ranks %i … %i', (n, low, high) => {
    const i = medianInterval(ranks(n));
    expect([i.low, i.high]).toEqual([low, high]);
  });

  it('takes the narrowest interval that still covers the median with 95 %, at every n from 6 to 80', () => {
    for (let n = 6; n <= 80; n++) {
      const { low: k, coverage } = medianInterval(ranks(n));
      expect(coverage).toBeCloseTo(1 - 2 * exactCdf(n, k - 1), 9);
      expect(coverage).toBeGreaterThanOrEqual(0.95);
      // One rank narrower would cover less than 95 %.
      expect(1 - 2 * exactCdf(n, k)).toBeLessThan(0.95);
    }
  });

  it('gives min … max and its own coverage below 6 values, and nothing for none', () => {
    expect(medianInterval([3, 7, 9, 10, 40])).toEqual({ low: 3, high: 40, coverage: 0.9375 });
    expect(medianInterval([5])).toEqual({ low: 5, high: 5, coverage: 0 });
    expect(medianInterval([]).low).toBeNaN();
  });

  it('keeps its width on pools too large for 2^-n (n = 2,000)', () => {
    const n = 2000;
    const { low: k, high, coverage } = medianInterval(ranks(n));
    expect(high).toBe(n - k + 1);
    expect(coverage).toBeCloseTo(1 - 2 * exactCdf(n, k - 1), 9);
    expect(coverage).toBeGreaterThanOrEqual(0.95);
    expect(1 - 2 * exactCdf(n, k)).toBeLessThan(0.95);
    // About n/2 − 1.96·√n/2 (956.2), as the normal approximation has it.
    expect(Math.abs(k - 956.2)).toBeLessThan(2);
  });

  it('reads the values given, not their ranks (lopsided noise stays in the interval)', () => {
    const xs = [-8, -7, -6, 11, 11, 12, 14, 14, 15, 17, 18, 31, 47, 77, 230];
    expect(medianInterval(xs)).toMatchObject({ low: 11, high: 31 });
  });
});

describe('median', () => {
  it('takes the middle value, or the mean of the two middle ones, of the finite values', () => {
    expect(median([9, 1, 5])).toBe(5);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 7, Infinity, 3])).toBe(5);
    expect(median([])).toBeNaN();
  });
});

describe('verdict', () => {
  it('says whether the median meets the goal and whether the interval settles it', () => {
    expect(verdict(14, { low: 11, high: 19, coverage: 0.96 }, 20)).toBe('met');
    expect(verdict(14, { low: 11, high: 31, coverage: 0.96 }, 20)).toMatch(/^met at the median; the interval reaches past the goal/);
    expect(verdict(22, { low: 15, high: 40, coverage: 0.96 }, 20)).toMatch(/^not met at the median; the interval reaches the goal/);
    expect(verdict(30, { low: 21, high: 40, coverage: 0.96 }, 20)).toBe('not met');
    expect(verdict(20, { low: 20, high: 20, coverage: 0.96 }, 20)).toBe('met');
    // The interval touching the goal from above does not settle "not met".
    expect(verdict(25, { low: 20, high: 30, coverage: 0.96 }, 20)).toMatch(/^not met at the median; the interval reaches the goal/);
    // Below the level asked, nothing is settled.
    expect(verdict(14, { low: 11, high: 19, coverage: 0.9375 }, 20)).toMatch(/^met at the median; 95 % needs 6 rounds or more/);
    expect(verdict(14, { low: 11, high: 19, coverage: 0.9375 }, 20, 0.9)).toBe('met');
    expect(verdict(NaN, { low: NaN, high: NaN, coverage: NaN }, 20)).toBe('not judged (no figure)');
  });
});
