/**
 * The default log destination at process exit, in a real child process: the lines still gathered (logDestination
 * holds up to 16 KB of them, or a second's worth) are written when the process ends, whether it calls
 * process.exit() or runs out of work, to a file and to a pipe. The child runs this tree's logger.ts, transpiled.
 */
import { spawn } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, upTo } from './helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('log-exit'));
  const source = readFileSync(path.join(ROOT, 'src/telemetry/logger.ts'), 'utf8');
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  writeFileSync(path.join(dir, 'logger.mjs'), js);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  // argv: lines, how the process ends (exit | natural), where lines go (a file path, or '-' for stdout).
  writeFileSync(
    path.join(dir, 'child.mjs'),
    `import { createLogger, logDestination } from './logger.mjs';
const [lines, end, to] = process.argv.slice(2);
const destination = logDestination(to === '-' ? {} : { dest: to });
const logger = createLogger({ destination });
const go = () => {
  for (let i = 0; i < Number(lines); i++) logger.info({ i, pad: 'x'.repeat(i % 300) }, 'line');
  if (end === 'exit') process.exit(0);
};
// A file opens asynchronously (stdout is open already): the server opens its destination long before it exits.
if (to === '-') go(); else destination.on('ready', go);
`,
  );
});
afterAll(() => cleanup?.());

function child(lines: number, end: 'exit' | 'natural', to: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(dir, 'child.mjs'), String(lines), end, to], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout }));
  });
}

const indexes = (text: string) => text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);

describe('log lines at exit', () => {
  it.each([
    [1, 'exit'],
    [1, 'natural'],
    [70, 'exit'],
    [5000, 'exit'],
    [5000, 'natural'],
  ] as const)('%i lines, %s, to a pipe (stdout): every line, in order', async (n, end) => {
    const r = await child(n, end, '-');
    expect(r.code).toBe(0);
    expect(indexes(r.stdout)).toEqual(upTo(n));
  });

  it.each([
    [70, 'exit'],
    [70, 'natural'],
    [5000, 'exit'],
    [5000, 'natural'],
  ] as const)('%i lines, %s, to a file: every line, in order', async (n, end) => {
    const file = path.join(dir, `out-${n}-${end}.log`);
    const r = await child(n, end, file);
    expect(r.code).toBe(0);
    expect(indexes(readFileSync(file, 'utf8'))).toEqual(upTo(n));
  });
});
