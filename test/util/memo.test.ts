import { describe, expect, it } from 'vitest';
import { BoundedMemo } from '../../src/util/memo.js';

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
