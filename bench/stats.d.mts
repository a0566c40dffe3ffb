export interface MedianInterval {
  low: number;
  high: number;
  /** The probability that such an interval holds the median (at least the level asked, when n allows it). */
  coverage: number;
}
/** The median of the finite values (NaN for none). */
export function median(xs: readonly number[]): number;
export function medianInterval(sorted: readonly number[], level?: number): MedianInterval;
export function verdict(median: number, interval: MedianInterval, goal: number, level?: number): string;
