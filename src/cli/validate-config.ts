/**
 * `validate-config --config F`: loads a config file exactly as `serve` would (same loader, MLRUN_* overrides from the
 * process environment) and says whether the server would take it. The chart's pre-install/pre-upgrade hook runs it on
 * the rendered config, so `helm install`/`upgrade` stops with the server's own message instead of a crash loop or a
 * silently refused hot reload.
 */
import { loadConfig } from '../config/load.js';
import { parseArgs, UsageError, usageFailure } from './args.js';
import type { Io } from './resolve.js';

export const VALIDATE_CONFIG_USAGE = `Usage:
  mlrun-image-webhook validate-config --config F

Loads F (YAML or JSON) as the server does, with the MLRUN_* environment overrides, and checks every key.
Valid: one line on stdout, exit 0. Refused: one line per problem on stderr ("key: reason"), exit 2.
Exit codes: 0 valid, 2 refused or usage error.`;

export async function runValidateConfig(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, ['config'], []);
  } catch (e) {
    if (e instanceof UsageError) return usage(io, e.message);
    throw e;
  }
  if (args.positionals.length > 0) return usage(io, `unexpected argument ${JSON.stringify(args.positionals[0])}; give the file with --config F`);
  const file = args.values.get('config');
  // Without --config the server runs on its embedded default; validating that says nothing about a deployment.
  if (file === undefined || file === '') return usage(io, 'give the config file with --config F');
  const loaded = loadConfig({ file, env: process.env });
  if (!loaded.ok) {
    // One line per problem, so a hook's log (and helm's copy of it) reads like the server's own refusal.
    io.stderr.write(loaded.problems.map((p) => `${p.key}: ${oneLine(p.reason)}\n`).join(''));
    return 2;
  }
  const { mlrun } = loaded.runtime.config;
  io.stdout.write(`config ${loaded.source} is valid: MLRun ${mlrun.version}${mlrun.compat ? ` (rules of ${mlrun.compat})` : ''}, ${loaded.runtime.resolver.rules.label}\n`);
  return 0;
}

/** A reason may quote a value with a newline in it (JSON-escaped already); keep the promise of one line each. */
function oneLine(text: string): string {
  return text.replace(/\r?\n/g, ' ');
}

function usage(io: Io, message: string): number {
  return usageFailure(io, VALIDATE_CONFIG_USAGE, message);
}
