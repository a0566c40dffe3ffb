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
  });
});
