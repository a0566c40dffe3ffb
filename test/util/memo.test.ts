import { describe, expect, it } from 'vitest';
import { BoundedMemo, BoundedTripleMemo } from '../../src/util/memo.js';

describe('BoundedMemo', () => {
  it('computes once per key, starts over when full, and does not keep over-long keys', () => {
    const memo = new BoundedMemo<number>(2, 5);
    let calls = 0;
    const f = (k: string) => memo.get(k, () => ++calls);
    expect([f('a'), f('a'), f('b'), f('b')]).toEqual([1, 1, 2, 2]);
    expect(f('c')).toBe(3); // full: starts over
    expect(f('a')).toBe(4); // forgotten
    expect([f('toolong'), f('toolong')]).toEqual([5, 6]); // never kept
    expect(memo.size).toBeLessThanOrEqual(2);
  });

  it('holds at most maxEntries keys and no key past maxKeyLength, whatever is asked', () => {
    const memo = new BoundedMemo<string>(8, 16);
    for (let i = 0; i < 100; i++) memo.get(`k${i}`, () => 'v');
    expect(memo.size).toBeLessThanOrEqual(8);
    const before = memo.size;
    expect(memo.get('x'.repeat(17), () => 'long')).toBe('long');
    expect(memo.size).toBe(before);
    expect(memo.get('x'.repeat(16), () => 'edge')).toBe('edge');
    expect(memo.size).toBe(before + 1 > 8 ? 1 : before + 1);
  });

  it.each([
    [Infinity, 10],
    [10, Infinity],
    [0, 10],
    [Number.NaN, 10],
  ])('refuses unbounded or empty limits (%s entries, %s key length)', (entries, keyLength) => {
    expect(() => new BoundedMemo(entries, keyLength)).toThrow(RangeError);
  });
});

describe('BoundedTripleMemo', () => {
  it('computes once per (a, b, key), tells null from "" and the parts apart, and starts over when full', () => {
    const memo = new BoundedTripleMemo<number>(4, 10);
    let calls = 0;
    const f = (a: string | null, b: string | null, k: string) => memo.get(a, b, k, () => ++calls);
    expect([f('1', '3', 'img'), f('1', '3', 'img')]).toEqual([1, 1]);
    // Each part is its own key: no joined string whose pieces could slide into each other.
    expect(f(null, '3', 'img')).toBe(2);
    expect(f('', '3', 'img')).toBe(3);
    expect(f('13', null, 'img')).toBe(4);
    expect(memo.size).toBe(4);
    expect(f('1', '3', 'other')).toBe(5); // full: starts over, then holds the new one
    expect(memo.size).toBe(1);
    expect(f('1', '3', 'img')).toBe(6); // forgotten
  });

  it('keeps no triple longer than maxKeyLength in all and at most maxEntries, whatever is asked', () => {
    const memo = new BoundedTripleMemo<string>(8, 16);
    for (let i = 0; i < 100; i++) memo.get(`v${i % 3}`, null, `k${i}`, () => 'v');
    expect(memo.size).toBeLessThanOrEqual(8);
    const before = memo.size;
    expect(memo.get('1234567', '89', 'abcdefgh', () => 'long')).toBe('long'); // 17 in all: not kept
    expect(memo.size).toBe(before);
    expect(memo.get('1234567', '89', 'abcdefg', () => 'edge')).toBe('edge'); // 16: kept
    expect(memo.get('1234567', '89', 'abcdefg', () => 'again')).toBe('edge');
  });

  it('refuses unbounded or empty limits', () => {
    expect(() => new BoundedTripleMemo(Infinity, 10)).toThrow(RangeError);
    expect(() => new BoundedTripleMemo(10, Number.NaN)).toThrow(RangeError);
    expect(() => new BoundedTripleMemo(0, 10)).toThrow(RangeError);
  });
});
