import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** CPython's answers for many requests in ONE python3 process (see re_oracle.py). */
export type OracleAnswer =
  | { kind: 'ok'; results: boolean[] }
  | { kind: 're.error' | 'ValueError' | 'OverflowError' | 'other'; msg: string };

const SCRIPT = fileURLToPath(new URL('./re_oracle.py', import.meta.url));

/** Why the oracle cannot run here, or null when python3 is CPython 3.11. */
export function oracleUnavailable(): string | null {
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.implementation.name, sys.version_info[:2] == (3, 11))'], {
    encoding: 'utf8',
  });
  if (r.error || r.status !== 0) return 'python3 is not installed';
  if (r.stdout.trim() !== 'cpython True') return `python3 is not CPython 3.11 (${r.stdout.trim()})`;
  return null;
}

export function askPython(requests: readonly unknown[], timeoutMs = 120_000): unknown[] {
  const input = requests.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const r = spawnSync('python3', [SCRIPT], { input, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`re_oracle.py failed: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  if (lines.length !== requests.length) throw new Error(`re_oracle.py answered ${lines.length} of ${requests.length}`);
  return lines.map((l) => JSON.parse(l) as unknown);
}
