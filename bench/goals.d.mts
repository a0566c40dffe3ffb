export interface BenchRow {
  target: string;
  body: string;
  protocol: string;
  round: number;
  /** The file a row came from, when saved runs are judged together. */
  run?: string;
  cpuUs: number;
  rssPeak: number;
}
export const GOALS: { typicalUs: number; largeRatio: number; rssMiB: number };
export function paired(runs: readonly BenchRow[], a: string, b: string, body: string, protocol: string): { diffs: number[]; ratios: number[] };
export function goalLines(runs: readonly BenchRow[]): string[];
export function poolRuns(files: readonly { name: string; doc: unknown }[], anyBuild?: boolean): { rows: BenchRow[]; builds: string[]; commits: string[] };
