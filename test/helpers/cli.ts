/** Runs the CLI in process (same code path as the binary) with captured streams. */
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';

export async function runCli(argv: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await main(argv, { stdin: Readable.from([stdin]), stdout, stderr });
  return { code, out, err };
}
