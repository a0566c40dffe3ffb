/**
 * One exit-code rule for every command: 0 done, 1 a document or input failed, 2 usage or configuration error.
 * Each row runs the real CLI (in process, same code as the binary).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'exit-codes-'));
const write = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const pod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: c, image: mlrun/mlrun}\n';
const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n        - {name: c, image: mlrun/mlrun}\n';
const badConfig = write('bad-config.yaml', 'webhook:\n  mode: banana\n');
const notYaml = write('not-yaml.yaml', 'a: [1, 2\n');
const vectorLine = JSON.stringify({ case_id: 'x', image: 'mlrun/mlrun', config: { server_version: '1.9.2' } });

type Row = [string, string[], string, number, RegExp | null];
const rows: Row[] = [
  // 0: done
  ['help', [], '', 0, null],
  ['version', ['version'], '', 0, null],
  ['resolve an image', ['resolve', 'mlrun/mlrun'], '', 0, null],
  ['resolve --jsonl', ['resolve', '--jsonl', '--mlrun-compat', '1.9.2'], vectorLine, 0, null],
  ['mutate a Pod', ['mutate', '-'], pod, 0, null],
  ['render a Deployment', ['render'], deployment, 0, null],
  // 1: a document or input failed
  ['resolve: MLRun would raise', ['resolve', 'mlrun/mlrun', '--images-tag', 'latest', '--python-version', '3.9.18'], '', 1, /MLRun would raise/],
  ['resolve --jsonl: a line that is not JSON', ['resolve', '--jsonl', '--mlrun-compat', '1.9.2'], '{oops', 1, null],
  ['mutate a Deployment', ['mutate', '-'], deployment, 1, /not a Pod \(kind Deployment\): use `mlrun-image-webhook render`/],
  ['mutate: not YAML', ['mutate', notYaml], '', 1, /not YAML/],
  ['render: not YAML', ['render', '-f', notYaml], '', 1, /not YAML/],
  // 2: usage or configuration error
  ['unknown command', ['nope'], '', 2, /unknown command/],
  ['version with an argument', ['version', 'x'], '', 2, /takes no arguments/],
  ['resolve: unknown option', ['resolve', 'a', '--bogus'], '', 2, /unknown option/],
  ['mutate: bad --config', ['mutate', '-', '--config', badConfig], pod, 2, /webhook\.mode/],
  ['mutate: missing --config file', ['mutate', '-', '--config', join(dir, 'nope.yaml')], pod, 2, /nope\.yaml/],
  ['render: bad --config', ['render', '--config', badConfig], deployment, 2, /webhook\.mode/],
  ['render: unknown option', ['render', '--bogus'], '', 2, /unknown option/],
];

describe('exit codes: 0 done, 1 a document or input failed, 2 usage or configuration error', () => {
  it.each(rows)('%s → %i', async (_name, argv, stdin, code, message) => {
    const r = await run(argv, stdin);
    expect(r.code, r.err).toBe(code);
    if (message) expect(r.err).toMatch(message);
  });

  it('mutate on a Deployment never claims "outcome: unchanged"', async () => {
    const r = await run(['mutate', '-'], deployment);
    expect(r.out).not.toMatch(/outcome/);
    const json = await run(['mutate', '-', '--json'], deployment);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out)).toEqual({ document: 0, error: expect.stringMatching(/^not a Pod \(kind Deployment\)/) });
  });

  // Commands written in their own modules: the dispatcher routes to them and their bad-config answer is 2 too.
  const optional: [string, string][] = [
    ['validate-config', 'validate-config.ts'],
    ['discover', 'discover.ts'],
  ];
  for (const [command, file] of optional) {
    const present = existsSync(new URL(`../../src/cli/${file}`, import.meta.url));
    it.skipIf(!present)(`${command}: --help exits 0, an unknown option exits 2${present ? '' : ` (skipped: src/cli/${file} not there yet)`}`, async () => {
      expect((await run([command, '--help'])).code).toBe(0);
      const r = await run([command, '--definitely-not-an-option']);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/unknown option/);
    });
  }

  it('validate-config: a bad --config exits 2', async () => {
    const r = await run(['validate-config', '--config', badConfig]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/webhook\.mode/);
  });
});
