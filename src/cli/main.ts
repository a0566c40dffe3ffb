#!/usr/bin/env node
/** Entry point: one binary, three commands over the same core (serve, resolve, mutate). */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { MUTATE_USAGE, runMutate } from './mutate.js';
import { RESOLVE_USAGE, runResolve, type Io } from './resolve.js';

const USAGE = `mlrun-image-webhook: MLRun's image rules (auto tags, python suffixes, registry prefix) for every Pod.

Commands:
  serve     run the admission webhook (HTTPS) and its health/metrics port
  resolve   resolve one image, or a batch of JSON lines, as MLRun would
  mutate    run a Pod file through the webhook's admission code and print the patch
  version   print the version

Run "mlrun-image-webhook COMMAND --help" for a command's options.`;

export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  switch (command) {
    case 'serve': {
      const { runServe, SERVE_USAGE } = await import('./serve.js');
      if (wantsHelp) return help(io, SERVE_USAGE);
      return runServe(rest);
    }
    case 'resolve':
      return wantsHelp ? help(io, RESOLVE_USAGE) : runResolve(rest, io);
    case 'mutate':
      return wantsHelp ? help(io, MUTATE_USAGE) : runMutate(rest, io);
    case 'version':
    case '--version': {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      io.stdout.write(`${pkg.version}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return help(io, USAGE);
    default:
      io.stderr.write(`error: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
      return 2;
  }
}

function help(io: Io, text: string): number {
  io.stdout.write(`${text}\n`);
  return 0;
}

// Run when executed directly (not when imported by tests).
function invokedDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}
if (invokedDirectly()) {
  main(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
