// Statistics for the bench's goal judgement: pure functions, no I/O (test/bench/stats.test.ts).

/** The median of the finite values (NaN for none). */
export function median(xs) {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

/**
 * P(B ≤ k) for B ~ Binomial(n, 1/2). The terms are summed in log space: 2^−n underflows past n = 1074, which would
 * take the interval of a large pool down to the median alone.
 */
function binomialHalfCdf(n, k) {
  if (k < 0) return 0;
  if (k >= n) return 1;
  const logs = [];
  let logTerm = -n * Math.LN2; // log P(B = 0)
  logs.push(logTerm);
  for (let i = 1; i <= k; i++) {
    logTerm += Math.log((n - i + 1) / i);
    logs.push(logTerm);
  }
  const top = Math.max(...logs);
  let sum = 0;
  for (const l of logs) sum += Math.exp(l - top);
  return Math.min(1, Math.exp(top + Math.log(sum)));
}

/**
 * A distribution-free interval for the median of the population the (sorted) values came from: the order statistics
 * x(k) … x(n−k+1), with k the largest whose coverage 1 − 2·P(B ≤ k−1), B ~ Binomial(n, 1/2), is still at least
 * `level`. It assumes only that the values are independent draws (rounds of a bench), not a shape: the host's noise
 * is lopsided (a busy round costs the webhook +200 µs, a quiet one never −200). Fewer than 6 values cannot reach
 * 95 %: then the widest interval (min … max) and its own coverage (5 values: 93.75 %).
 */
export function medianInterval(sorted, level = 0.95) {
  const n = sorted.length;
  if (n === 0) return { low: NaN, high: NaN, coverage: NaN };
  let k = 1;
  while (k + 1 <= Math.ceil(n / 2) && 1 - 2 * binomialHalfCdf(n, k) >= level) k++;
  return { low: sorted[k - 1], high: sorted[n - k], coverage: 1 - 2 * binomialHalfCdf(n, k - 1) };
}

/**
 * A goal "at most `goal`" judged on a median and its interval: met or not by the median (the figure the bench has
 * always judged by, ADR 0015), and whether the interval settles it at this machine's noise. An interval below
 * `level` (fewer than 6 values for 95 %) settles nothing.
 */
export function verdict(median, interval, goal, level = 0.95) {
  if (!Number.isFinite(median)) return 'not judged (no figure)';
  const settles = interval.coverage >= level;
  const few = `${Math.round(100 * level)} % needs 6 rounds or more, more rounds would settle it`;
  if (!(median <= goal)) {
    if (!settles) return `not met at the median; ${few}`;
    return interval.low > goal ? 'not met' : 'not met at the median; the interval reaches the goal, more rounds would settle it';
  }
  if (!settles) return `met at the median; ${few}`;
  return interval.high <= goal ? 'met' : 'met at the median; the interval reaches past the goal, more rounds would settle it';
}
