/** The webhook's own version (package.json), read once: build_info and the `version` command report it. */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** package.json sits two levels up from both src/telemetry (tests) and dist/telemetry (the build). */
export function webhookVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      cached = typeof pkg.version === 'string' && pkg.version.length <= 64 ? pkg.version : 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
