/** Runs the CLI, or one command's run function, in process (same code path as the binary) with captured streams. */
import { PassThrough, Readable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/resolve.js';

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** One command's entry point, e.g. runCatalogue or runValidateConfig. */
export type Command = (argv: string[], io: Io) => Promise<number>;

export async function runCommand(command: Command, argv: string[], stdin = ''): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await command(argv, { stdin: Readable.from([stdin]), stdout, stderr });
  return { code, out, err };
}

export function runCli(argv: string[], stdin = ''): Promise<CliResult> {
  return runCommand(main, argv, stdin);
}
