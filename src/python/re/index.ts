/**
 * Python 3.11 `re.match(pattern, s) is not None`, in time linear in `s` (ADR 0005).
 * Parsing and error reporting follow CPython (`parse.ts`); matching is a Thompson NFA (`vm.ts`).
 */

import { PyReError, parsePython, pyErrorResult, unsupportedResult, type PyCompileFailure } from './parse.js';
import { compileLinear } from './vm.js';

export type { PyCompileError, PyCompileFailure } from './parse.js';
export { MAX_PROGRAM_SIZE } from './vm.js';

export type PyMatcherResult =
  | { ok: true; match: (s: string) => boolean; programSize: number }
  | PyCompileFailure;

/** Test-only view: the matcher plus the step count of its last match. */
export type InstrumentedMatcherResult =
  | { ok: true; match: (s: string) => boolean; programSize: number; lastSteps: () => number }
  | PyCompileFailure;

export function compileInstrumentedMatcher(pattern: string): InstrumentedMatcherResult {
  if (typeof pattern !== 'string') return { ok: false, kind: 'unsupported', reason: 'pattern must be a string' };
  const cps = Array.from(pattern);
  let parsed;
  try {
    parsed = parsePython(cps);
  } catch (e) {
    if (e instanceof PyReError) return pyErrorResult(e, cps);
    // Defensive: e.g. RangeError from pathological nesting depth.
    return {
      ok: false,
      kind: 'unsupported',
      reason: `pattern could not be compiled: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
  if (parsed.parser.unsupported !== null) return unsupportedResult(parsed.parser.unsupported);
  const compiled = compileLinear(parsed.ast, parsed.flags);
  if (!compiled.ok) return unsupportedResult(compiled.info);
  const m = compiled.matcher;
  const match = (s: string): boolean => {
    if (typeof s !== 'string') return false;
    try {
      return m.match(s);
    } catch {
      return false; // never reached by design; a matcher must not throw into admission
    }
  };
  return { ok: true, match, programSize: m.programSize, lastSteps: () => m.steps };
}

/**
 * Compile a Python pattern once into a `re.match` equivalent that runs in time linear in the
 * input. `match` never throws and allocates nothing per character.
 */
export function compilePythonMatcher(pattern: string): PyMatcherResult {
  const r = compileInstrumentedMatcher(pattern);
  if (!r.ok) return r;
  return { ok: true, match: r.match, programSize: r.programSize };
}
