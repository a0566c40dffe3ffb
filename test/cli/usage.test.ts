/**
 * The top-level usage, every command's --help and the README agree on which commands exist.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

async function listedCommands(): Promise<string[]> {
  const r = await run(['--help']);
  const block = r.out.split('Commands:\n')[1]!.split('\n\n')[0]!;
  return block.split('\n').map((l) => l.trim().split(/\s+/)[0]!);
}

describe('usage texts', () => {
  it('every command the top-level usage lists answers --help (exit 0) with its own usage', async () => {
    const commands = await listedCommands();
    expect(commands).toEqual(['serve', 'resolve', 'mutate', 'render', 'validate-config', 'discover', 'catalogue', 'check-mirror', 'version']);
    for (const c of commands.filter((x) => x !== 'version')) {
      const r = await run([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.out, c).toMatch(new RegExp(`mlrun-image-webhook ${c}\\b`));
    }
  });

  it('the README names every command in backticks, and uses no command that does not exist', async () => {
    const commands = await listedCommands();
    for (const c of commands) expect(readme, c).toContain(`\`${c}\``);
    const used = [...readme.matchAll(/npx mlrun-image-webhook ([a-z-]+)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(3);
    for (const u of used) expect(commands, u).toContain(u);
  });

  it('help texts stay within 120 columns', async () => {
    for (const c of ['resolve', 'mutate', 'render']) {
      const r = await run([c, '--help']);
      for (const line of r.out.split('\n')) expect(line.length, `${c}: ${line}`).toBeLessThanOrEqual(120);
    }
  });
});
