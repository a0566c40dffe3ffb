#!/usr/bin/env node
/**
 * Entry point: one binary, several commands over the same core.
 *
 * Exit codes, the same for every command: 0 done, 1 a document or input failed, 2 usage or configuration error.
 * Every command's module is imported when used: `resolve` does not load fastify or the Kubernetes client, and the
 * long-running `serve` keeps no other command's code in its heap.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { Io } from './resolve.js';

const USAGE = `mlrun-image-webhook: MLRun's image rules (auto tags, python suffixes, registry prefix) for every Pod.

Commands:
  serve            run the admission webhook (HTTPS) and its health/metrics port
  resolve          resolve one image, or a batch of JSON lines, as MLRun would
  mutate           run a Pod file through the webhook's admission code and print the patch
  render           resolve the images of every pod template in manifests (YAML/JSON; also a Helm post-renderer)
  validate-config  check a config file (or chart values) as the server would load it
  discover         read the MLRun version and image settings of the MLRun install(s) in a cluster
  catalogue        list the images an MLRun version needs and their mirror names (air-gapped copy list)
  check-mirror     check that the mirror registry holds the catalogue (and given images); a CI/upgrade gate
  version          print the version

Run "mlrun-image-webhook COMMAND --help" for a command's options.
Exit codes: 0 done, 1 a document or input failed, 2 usage or configuration error.`;

/** A command implemented in its own module, loaded when used. */
interface LazyCommand {
  load: () => Promise<{ usage: string; run: (argv: string[], io: Io) => Promise<number> }>;
}

/** A LazyCommand from the module's import and what to take from it (each module names its usage and run). */
function fromModule<M>(importModule: () => Promise<M>, pick: (m: M) => Awaited<ReturnType<LazyCommand['load']>>): LazyCommand {
  return { load: async () => pick(await importModule()) };
}

const LAZY: Record<string, LazyCommand> = {
  resolve: fromModule(() => import('./resolve.js'), (m) => ({ usage: m.RESOLVE_USAGE, run: m.runResolve })),
  mutate: fromModule(() => import('./mutate.js'), (m) => ({ usage: m.MUTATE_USAGE, run: m.runMutate })),
  serve: fromModule(() => import('./serve.js'), (m) => ({ usage: m.SERVE_USAGE, run: (argv) => m.runServe(argv) })),
  render: fromModule(() => import('./render.js'), (m) => ({ usage: m.RENDER_USAGE, run: m.runRender })),
  'validate-config': fromModule(() => import('./validate-config.js'), (m) => ({ usage: m.VALIDATE_CONFIG_USAGE, run: m.runValidateConfig })),
  catalogue: fromModule(() => import('./catalogue.js'), (m) => ({ usage: m.CATALOGUE_USAGE, run: m.runCatalogue })),
  'check-mirror': fromModule(() => import('./check-mirror.js'), (m) => ({ usage: m.CHECK_MIRROR_USAGE, run: m.runCheckMirror })),
  discover: fromModule(() => import('./discover.js'), (m) => ({ usage: m.DISCOVER_USAGE, run: m.runDiscover })),
};

export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  const lazy = command !== undefined && Object.hasOwn(LAZY, command) ? LAZY[command] : undefined;
  if (lazy) {
    const { usage, run } = await lazy.load();
    return wantsHelp ? help(io, usage) : run(rest, io);
  }
  switch (command) {
    case 'version':
    case '--version': {
      if (rest.length > 0) {
        io.stderr.write(`error: version takes no arguments, got ${JSON.stringify(rest[0])}\n`);
        return 2;
      }
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
      // A bug, not an input problem: say so plainly (exit 1 as for a failed input; the stack is for the report).
      process.stderr.write(`error: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
