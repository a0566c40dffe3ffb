// `npm run bench`: the core micro-benchmark, then the HTTPS server benchmark (bench/server.mjs; docs/performance.md).
// Arguments go to both (core.mjs reads only --quick).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const here = (f) => fileURLToPath(new URL(f, import.meta.url));
let failed = false;
for (const script of ['core.mjs', 'server.mjs']) {
  if (!existsSync(here(script))) {
    console.log(`(skipping ${script}: not present)`);
    continue;
  }
  const r = spawnSync(process.execPath, [here(script), ...args], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
