/** Minimal, strict argument parsing: unknown flags are usage errors (exit 2), never silently ignored. */

export class UsageError extends Error {}

export interface ParsedArgs {
  positionals: string[];
  values: Map<string, string>;
  flags: Set<string>;
}

/**
 * @param valueOptions options that take a value (--name V or --name=V)
 * @param booleanOptions options without a value
 * @param shortOptions single-dash aliases, e.g. {f: 'file'} for -f FILE (kubectl's habit)
 */
export function parseArgs(
  argv: string[],
  valueOptions: readonly string[],
  booleanOptions: readonly string[],
  shortOptions: Readonly<Record<string, string>> = {},
): ParsedArgs {
  const out: ParsedArgs = { positionals: [], values: new Map(), flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    if (arg === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    const short = /^-([A-Za-z])(?:=(.*))?$/s.exec(arg);
    if (short) {
      const long = shortOptions[short[1]!];
      if (long === undefined) throw new UsageError(`unknown option ${arg}`);
      arg = short[2] === undefined ? `--${long}` : `--${long}=${short[2]}`;
    }
    if (!arg.startsWith('--') || arg === '-') {
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    if (booleanOptions.includes(name)) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      out.flags.add(name);
    } else if (valueOptions.includes(name)) {
      let value: string | undefined;
      if (eq >= 0) value = arg.slice(eq + 1);
      else {
        value = argv[i + 1];
        i++;
      }
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      if (out.values.has(name)) throw new UsageError(`--${name} given twice`);
      out.values.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return out;
}

/** A usage error of any command: the message, then that command's usage text, on stderr; exit code 2. */
export function usageFailure(io: { stderr: { write(text: string): unknown } }, usageText: string, message: string): number {
  io.stderr.write(`error: ${message}\n\n${usageText}\n`);
  return 2;
}

/** A refused config, the same for every command that loads one: each key and reason on stderr; exit code 2. */
export function configRefused(
  io: { stderr: { write(text: string): unknown } },
  loaded: { source: string; problems: readonly { key: string; reason: string }[] },
): number {
  io.stderr.write(`error: config ${loaded.source} refused:\n${loaded.problems.map((p) => `  ${p.key}: ${p.reason}\n`).join('')}`);
  return 2;
}
