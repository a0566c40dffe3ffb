/** Checked-in generated files: compare with the generated content, or write it when UPDATE_GENERATED=1. */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './helm.js';

const UPDATE = process.env.UPDATE_GENERATED === '1';
const HOW = 'regenerate with: UPDATE_GENERATED=1 npx vitest run test/chart';

/** Compares a checked-in file with its generated content (or writes it when UPDATE_GENERATED=1). */
export function checkGenerated(relPath: string, expected: string): void {
  const file = path.join(ROOT, relPath);
  const actual = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (UPDATE) {
    if (actual !== expected) fs.writeFileSync(file, expected);
    return;
  }
  if (actual === expected) return;
  const a = actual.split('\n');
  const e = expected.split('\n');
  let line = e.findIndex((l, i) => l !== a[i]);
  if (line < 0) line = e.length;
  throw new Error(
    `${relPath} is stale (${HOW}).\nFirst difference at line ${line + 1}:\n  checked in: ${a[line] ?? '<end of file>'}\n  generated:  ${e[line] ?? '<end of file>'}`,
  );
}

