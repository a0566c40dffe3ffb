import { describe, expect, it } from 'vitest';
import { goalLines, paired, poolRuns, type BenchRow } from '../../bench/goals.mjs';

/** Rows of one run: per round, the floor at `floor[i]` and the webhook `diff[i]` above it (µs/req). */
function rows(cell: { body: string; protocol: string }, floor: number[], diff: number[], run?: string): BenchRow[] {
  return floor.flatMap((f, round) => [
    { ...cell, target: 'floor', round, run, cpuUs: f, rssPeak: 130 },
    { ...cell, target: 'webhook', round, run, cpuUs: f + diff[round]!, rssPeak: 140 },
  ]);
}
const typicalH2 = { body: 'typical', protocol: 'h2' };

describe('paired', () => {
  it('pairs the webhook and the floor of the same round of the same run, not of the same round number', () => {
    const a = rows(typicalH2, [100, 200], [10, 20], 'a.json');
    const b = rows(typicalH2, [300, 400], [5, 6], 'b.json');
    expect(paired([...a, ...b], 'webhook', 'floor', 'typical', 'h2').diffs).toEqual([5, 6, 10, 20]);
  });

  it('leaves out rounds without both, and figures that are not numbers', () => {
    const r = rows(typicalH2, [100, 100, 100], [1, 2, 3]);
    r[0]!.cpuUs = NaN;
    r.splice(2, 1); // round 1's floor
    expect(paired(r, 'webhook', 'floor', 'typical', 'h2').diffs).toEqual([3]);
  });
});

describe('goalLines', () => {
  const floor15 = Array.from({ length: 15 }, (_, i) => 100 + i * 7);

  it('says met when the whole interval of the median is within the goal', () => {
    const lines = goalLines(rows(typicalH2, floor15, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 90]));
    expect(lines[0]).toMatch(/^typical h2: \+12 µs vs floor, paired by round \(15 rounds \+5…\+90; the median's 96 % interval \+8…\+16\); medians \+\d+ \(goal ≤ 20\) met$/);
  });

  it('says the interval reaches past the goal when the median alone meets it', () => {
    const lines = goalLines(rows(typicalH2, floor15, [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 30, 40, 50, 60, 90]));
    expect(lines[0]).toMatch(/\+12 µs .*interval \+8…\+40\).*met at the median; the interval reaches past the goal/);
  });

  it('settles nothing with fewer than 6 rounds, whatever they say', () => {
    expect(goalLines(rows(typicalH2, [100, 110, 120], [5, 6, 7]))[0]).toMatch(/75 % interval \+5…\+7\); medians \+6 \(goal ≤ 20\) met at the median; 95 % needs 6 rounds or more/);
    expect(goalLines(rows(typicalH2, [100, 110, 120, 130, 140], [30, 31, 32, 33, 34]))[0]).toMatch(/\(goal ≤ 20\) not met at the median; 95 % needs 6 rounds/);
  });

  it('leaves out rounds whose floor read 0 (no ratio), and says when nothing is left to judge', () => {
    const large = { body: 'large', protocol: 'h2' };
    const r = rows(large, [600, 600, 600, 600], [60, 60, 60, 60]);
    r[0]!.cpuUs = 0;
    r[1]!.cpuUs = 0; // that round's webhook too: 0/0
    expect(paired(r, 'webhook', 'floor', 'large', 'h2').ratios).toEqual([1.1, 1.1, 1.1]);
    const none = rows(large, [0, 0], [0, 0]);
    expect(goalLines(none)[0]).toMatch(/medians \(goal ≤ 15 %\) not judged \(no figure\)$/);
  });

  it('judges the large body by ratio, and on the difference of medians below 3 rounds', () => {
    const large = { body: 'large', protocol: 'http/1.1' };
    expect(goalLines(rows(large, floor15.map((f) => f * 6), floor15.map((f) => f * 6 * 0.2)))[0]).toMatch(/^large http\/1.1: 20 % above floor.*not met$/);
    expect(goalLines(rows(large, [600, 700], [30, 40]))[0]).toBe('large http/1.1: 5 % above floor, medians (goal ≤ 15 %) met');
  });

  it('judges peak RSS against bare fastify, highest of every round of each', () => {
    const r = [
      ...rows(typicalH2, [100, 100, 100], [1, 1, 1]),
      { ...typicalH2, target: 'bare-fastify', round: 0, cpuUs: 90, rssPeak: 100 },
      { ...typicalH2, target: 'bare-fastify', round: 1, cpuUs: 90, rssPeak: 115 },
    ];
    r[1]!.rssPeak = 136; // one webhook round above the others
    expect(goalLines(r)).toContain('RSS typical h2: +25 MiB vs bare-fastify (goal ≤ 20) not met');
  });
});

describe('poolRuns', () => {
  // Each call a run of its own (other rounds), as two runs of the bench are.
  let runsMade = 0;
  const doc = (build: string | undefined) => ({ node: 'v20.20.2', build, commit: `c-${build}`, runs: rows(typicalH2, [100, 100, 100 + runsMade++], [1, 2, 3]) });

  it('marks each row with its file, so that rounds of different runs stay apart', () => {
    const { rows: r, builds, commits } = poolRuns([{ name: 'a', doc: doc('abc') }, { name: 'b', doc: doc('abc') }]);
    expect(r).toHaveLength(12);
    expect(new Set(r.map((x) => x.run))).toEqual(new Set(['a', 'b']));
    expect(builds).toEqual(['build abc on Node v20.20.2']);
    expect(commits).toEqual(['c-abc']);
  });

  it('refuses runs of different builds unless asked, and files that are not bench runs', () => {
    expect(() => poolRuns([{ name: 'a', doc: doc('abc') }, { name: 'b', doc: doc('def') }])).toThrow(/different builds: build abc on Node v20.20.2; build def on Node/);
    expect(poolRuns([{ name: 'a', doc: doc('abc') }, { name: 'b', doc: doc('def') }], true).rows).toHaveLength(12);
    expect(() => poolRuns([{ name: 'x.json', doc: { hello: 1 } }])).toThrow(/x.json: not a bench\/server.mjs --json file/);
    const a = doc('abc');
    expect(() => poolRuns([{ name: 'a', doc: a }, { name: 'copy-of-a', doc: structuredClone(a) }])).toThrow('copy-of-a holds the same rounds as a');
  });
});
