/**
 * validate-config: the same loader as `serve` (file + MLRUN_* env), exit 0 valid, 2 refused (one "key: reason" line per
 * problem on stderr) or usage error.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { VALIDATE_CONFIG_USAGE, runValidateConfig } from '../../src/cli/validate-config.js';
import { runCommand } from '../helpers/cli.js';
import { loadConfig } from '../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'validate-config-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());
let n = 0;
const write = (text: string) => {
  const f = join(dir, `c${n++}.yaml`);
  writeFileSync(f, text);
  return f;
};

const run = (argv: string[]) => runCommand(runValidateConfig, argv);

describe('validate-config', () => {
  it('a valid file: exit 0, one line on stdout naming the file and the rules, nothing on stderr', async () => {
    const f = write('mlrun:\n  version: "1.9.2"\n  imagesRegistry: datanode-registry.example:5000/mlrun\n');
    const r = await run(['--config', f]);
    expect(r).toEqual({ code: 0, out: `config ${f} is valid: MLRun 1.9.2, MLRun 1.9.x rules (family E)\n`, err: '' });
  });

  it('--config=F works too, and compat is named', async () => {
    const f = write('mlrun:\n  version: "1.9.2"\n  compat: "1.4.1"\n');
    const r = await run([`--config=${f}`]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('(rules of 1.4.1), MLRun 1.3.x-1.4.x rules (family B)');
  });

  it('refused: exit 2, exactly the loader\'s problems, one "key: reason" line each', async () => {
    const f = write('mlrun:\n  imagesRegistry: "https://reg.example/"\n  imagesTag: "bad tag!"\n  imagesToEnrichRegistry: "^mlrun/(\\\\w+\\\\1"\nlog:\n  level: loud\n');
    const r = await run(['--config', f]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    const loaded = loadConfig({ file: f, env: {} });
    if (loaded.ok) throw new Error('expected the loader to refuse');
    expect(r.err).toBe(loaded.problems.map((p) => `${p.key}: ${p.reason}\n`).join(''));
    const lines = r.err.trimEnd().split('\n');
    expect(lines.map((l) => l.slice(0, l.indexOf(':')))).toEqual(['mlrun.imagesTag', 'mlrun.imagesRegistry', 'log.level']);
    expect(lines[1]).toMatch(/^mlrun\.imagesRegistry: must not have a scheme: drop "https:\/\/"; a registry is a registry host such as/);
  });

  it('an invalid Python regex (what values.schema.json cannot check) is refused with the compiler\'s reason', async () => {
    const r = await run(['--config', write('mlrun:\n  imagesToEnrichRegistry: "^mlrun/*,^python:(3"\n')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^mlrun\.imagesToEnrichRegistry: (invalid regular expression|pattern not supported): .*\^python:\(3/);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  });

  it.each([
    ['an empty file', '', /^\(root\): the config is empty/],
    ['only comments', '# nothing here\n', /^\(root\): the config is empty/],
    ['a YAML syntax error', 'mlrun: [\n', /^\(file\): YAML\/JSON syntax error at line/],
  ])('%s is refused', async (_name, text, message) => {
    const r = await run(['--config', write(text)]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  it('a missing file is refused with the reason', async () => {
    const r = await run(['--config', join(dir, 'nope.yaml')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^\(file\): cannot read .*nope\.yaml: ENOENT/);
  });

  it('MLRUN_* overrides from the process environment are validated too, naming the variable', async () => {
    const f = write('mlrun:\n  version: "1.9.2"\n');
    vi.stubEnv('MLRUN_IMAGES_REGISTRY', 'reg.example/Team/');
    const r = await run(['--config', f]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^mlrun\.imagesRegistry: must have a lower-case path .*\(value from env MLRUN_IMAGES_REGISTRY\)\n$/);
    vi.stubEnv('MLRUN_IMAGES_REGISTRY', 'reg.example/team/');
    vi.stubEnv('MLRUN_IMAGES_TAG', '1.6');
    const r2 = await run(['--config', f]);
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/^env MLRUN_IMAGES_TAG: MLRun reads this variable with json\.loads/);
    vi.stubEnv('MLRUN_IMAGES_TAG', '"1.6"');
    expect((await run(['--config', f])).code).toBe(0);
  });

  it('every problem line is a single line, even when a value holds a newline', async () => {
    const r = await run(['--config', write('mlrun:\n  imagesTag: "a\\nb"\n  imagesRegistry: "x\\ny/"\n')]);
    expect(r.code).toBe(2);
    const lines = r.err.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^mlrun\.images(Tag|Registry): /);
  });

  it.each<[string, string[], RegExp]>([
    ['no --config', [], /give the config file with --config F/],
    ['an empty --config', ['--config='], /give the config file with --config F/],
    ['a positional file', ['config.yaml'], /unexpected argument "config.yaml"/],
    ['an unknown option', ['--config', 'x', '--json'], /unknown option --json/],
    ['--config without a value', ['--config'], /--config needs a value/],
  ])('usage error (%s): exit 2 with the usage', async (_name, argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(message);
    expect(r.err).toContain(VALIDATE_CONFIG_USAGE);
  });
});
