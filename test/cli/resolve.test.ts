/**
 * The CLI's resolve command, in process (same code as the binary): one image, exit codes, and batch mode replaying
 * every public vector through the JSON-lines contract that unseen vectors will be checked with.
 */
import { readFileSync } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { runCli as run } from '../helpers/cli.js';


describe('resolve IMAGE', () => {
  it('prints the image on stdout and the reasons on stderr', async () => {
    const r = await run(['resolve', 'mlrun/mlrun', '--client-version', '1.9.2', '--python-version', '3.9.18', '--images-registry', 'datanode-registry.example/']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('datanode-registry.example/mlrun/mlrun:1.9.2-py39\n');
    expect(r.err).toContain('tag from client version 1.9.2 + py39 for python 3.9.18');
    expect(r.err).toContain('prefixed images registry (pattern ^mlrun/*)');
  });

  it('--json carries rules, actions and reasons', async () => {
    const r = await run(['resolve', 'mlrun/ml-base', '--mlrun-version', '1.10.0', '--json']);
    expect(JSON.parse(r.out)).toMatchObject({ input: 'mlrun/ml-base', image: 'mlrun/mlrun:1.10.0', changed: true, actions: ['ml-base', 'tag'] });
  });

  it('--mlrun-compat follows another version while tagging with --mlrun-version', async () => {
    const r = await run(['resolve', 'mlrun/mlrun', '--mlrun-version', '1.4.1', '--mlrun-compat', '1.4.1', '--python-version', '3.7.16']);
    expect(r.out).toBe('mlrun/mlrun:1.4.1-py37\n');
  });

  it('exits 1 where MLRun would raise', async () => {
    const r = await run(['resolve', 'mlrun/mlrun', '--images-tag', 'latest', '--python-version', '3.9.18']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/MLRun would raise ValueError/);
  });

  it.each([
    [['resolve'], /exactly one IMAGE/],
    [['resolve', 'a', 'b'], /exactly one IMAGE/],
    [['resolve', 'a', '--bogus'], /unknown option --bogus/],
    [['resolve', 'a', '--client-version'], /needs a value/],
    [['resolve', 'a', '--mlrun-version', 'v1'], /not an MLRun version/],
    [['resolve', '--jsonl'], /needs --mlrun-compat/],
    [['nope'], /unknown command/],
  ])('usage error %j exits 2', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});

describe('resolve --jsonl (batch contract)', () => {
  const lines = readFileSync(new URL('../fixtures/mlrun-vectors.jsonl', import.meta.url), 'utf8').split('\n').filter(Boolean);
  const byTag = new Map<string, string[]>();
  for (const l of lines) {
    // The oracle's label as written (an MLRun git tag such as v1.10.0-rc18): --mlrun-compat takes it as is.
    const tag = (JSON.parse(l) as { oracle: { mlrun_tag: string } }).oracle.mlrun_tag;
    byTag.set(tag, [...(byTag.get(tag) ?? []), l]);
  }

  for (const [tag, input] of byTag) {
    it(`reproduces the vectors of MLRun ${tag} line by line, in order`, async () => {
      const r = await run(['resolve', '--jsonl', '--mlrun-compat', tag], input.join('\n') + '\n');
      expect(r.code).toBe(0);
      const out = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(out.length).toBe(input.length);
      const mismatches = input
        .map((l, i) => {
          const v = JSON.parse(l) as { case_id: string; expected: string | null; error?: string };
          const o = out[i]!;
          const ok = o.case_id === v.case_id && o.image === v.expected && (v.error ? o.error === v.error : !('error' in o));
          return ok ? undefined : `${v.case_id}: ${JSON.stringify(o)}`;
        })
        .filter(Boolean);
      expect(mismatches).toEqual([]);
    });
  }

  it.each([
    ['v1.9.2', 'E'],
    ['1.9', 'E'],
    ['1.10.0rc18', 'F'],
    ['V1.4.1', 'B'],
    ['1.10', 'F'],
    ['1.10.0.RC18', 'F'],
    ['1.10.0-rc.18', 'F'],
    ['1.10.0rc3', 'MLRun 1.10.0-rc3 rules (python rewrite keeps the full version)'],
  ])('--mlrun-compat %s picks family %s', async (label, family) => {
    const r = await run(['resolve', 'mlrun/mlrun', '--mlrun-compat', label, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).rules).toContain(family.length === 1 ? `family ${family}` : family);
  });

  it('applies the rule switches in batch mode and refuses options the lines already carry', async () => {
    const kfp = JSON.stringify({ image: 'mlrun/mlrun-kfp', client_version: '1.10.0', client_python_version: '3.9.18', config: { server_version: '1.10.0' } });
    const exempt = await run(['resolve', '--jsonl', '--mlrun-compat', '1.10.0'], kfp + '\n');
    expect(JSON.parse(exempt.out).image).toBe('mlrun/mlrun-kfp:1.10.0');
    const always = await run(['resolve', '--jsonl', '--mlrun-compat', '1.10.0', '--kfp-python-suffix', 'always'], kfp + '\n');
    expect(JSON.parse(always.out).image).toBe('mlrun/mlrun-kfp:1.10.0-py39');
    const port = JSON.stringify({ image: 'localhost:5000/mlrun/mlrun', client_version: '1.9.2', config: { server_version: '1.9.2' } });
    expect(JSON.parse((await run(['resolve', '--jsonl', '--mlrun-compat', '1.9.2', '--tag-images-with-registry-port'], port)).out).image).toBe('localhost:5000/mlrun/mlrun:1.9.2');
    const bogus = await run(['resolve', '--jsonl', '--mlrun-compat', '1.9.2', '--kfp-python-suffix', 'bogus'], kfp);
    expect(bogus.code).toBe(2);
    expect(bogus.err).toMatch(/--kfp-python-suffix must be one of/);
    const perLine = await run(['resolve', '--jsonl', '--mlrun-compat', '1.9.2', '--images-registry', 'r/'], kfp);
    expect(perLine.code).toBe(2);
    expect(perLine.err).toMatch(/from each input line; drop --images-registry/);
  });

  it('reads lines the way they are written: CRLF, a byte order mark, a lone CR inside a line, no final newline', async () => {
    const a = JSON.stringify({ case_id: 'a', image: 'mlrun/mlrun', config: { server_version: '1.9.2' } });
    const b = JSON.stringify({ case_id: 'b', image: 'mlrun/mlrun', config: { server_version: '1.9.2' } }).replace(',', ',\r');
    const r = await run(['resolve', '--jsonl', '--mlrun-compat', '1.9.2'], `\ufeff${a}\r\n${b}\r\n\n${a}`);
    expect(r.out.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { case_id: 'a', image: 'mlrun/mlrun:1.9.2' },
      { case_id: 'b', image: 'mlrun/mlrun:1.9.2' },
      { case_id: 'a', image: 'mlrun/mlrun:1.9.2' },
    ]);
  });

  it('reads a line split across many chunks, and a multi-byte character split between chunks', async () => {
    const big = JSON.stringify({ case_id: 'é'.repeat(300_000), image: 'mlrun/mlrun', config: { server_version: '1.9.2' } });
    const bytes = Buffer.from(`${big}\n${big}`);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 4093) chunks.push(bytes.subarray(i, i + 4093)); // odd size: splits "é"
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d) => (out += d));
    const code = await main(['resolve', '--jsonl', '--mlrun-compat', '1.9.2'], { stdin: Readable.from(chunks), stdout, stderr: new PassThrough() });
    expect(code).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toEqual({ case_id: 'é'.repeat(300_000), image: 'mlrun/mlrun:1.9.2' });
  });

  it('raises what MLRun raises for an image that is not a string, and defaults a missing server version', async () => {
    const r = await run(
      ['resolve', '--jsonl', '--mlrun-compat', 'v1.4.1'],
      [JSON.stringify({ case_id: 'n', image: null, config: {} }), JSON.stringify({ case_id: 'd', image: 'mlrun/mlrun', config: {} })].join('\n'),
    );
    expect(r.code).toBe(0); // a line MLRun raises on is an answer, not a failed input
    const [n, d] = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(n).toMatchObject({ case_id: 'n', image: null, error: 'AttributeError', reason: "'NoneType' object has no attribute 'strip'" });
    // MLRun's own version is the server version: the rules' version when the line does not say.
    expect(d).toEqual({ case_id: 'd', image: 'mlrun/mlrun:1.4.1' });
  });

  it('answers a bad line with an error line, keeps going, and exits 1 (an input line failed)', async () => {
    const r = await run(['resolve', '--jsonl', '--mlrun-compat', '1.9.2'], '{oops\n{"case_id":"x","image":"mlrun/mlrun","config":{"server_version":"1.9.2"}}\n[1]\n');
    expect(r.code).toBe(1);
    const out = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(out).toHaveLength(3);
    expect(out[0]).toMatchObject({ case_id: null, image: null, error: 'invalid-input' });
    expect(out[1]).toEqual({ case_id: 'x', image: 'mlrun/mlrun:1.9.2' });
    expect(out[2]).toMatchObject({ error: 'invalid-input' });
  });

  it('uses config values exactly as given: "" is a value, null is None, a missing key is MLRun\'s default', async () => {
    const line = (config: object) => JSON.stringify({ image: 'mlrun/mlrun', client_version: null, client_python_version: null, config });
    const r = await run(
      ['resolve', '--jsonl', '--mlrun-compat', '1.9.2'],
      [
        line({ images_registry: 'r.local', server_version: '1.9.2' }), // default pattern → prefixed
        line({ images_registry: 'r.local', images_to_enrich_registry: '', server_version: '1.9.2' }), // "" disables
        line({ images_registry: 'r.local', images_to_enrich_registry: null, server_version: '1.9.2' }), // None disables
        line({ images_tag: null, server_version: null }), // no version anywhere: untagged in 1.9
      ].join('\n'),
    );
    expect(r.out.trim().split('\n').map((l) => JSON.parse(l).image)).toEqual([
      'r.local/mlrun/mlrun:1.9.2',
      'mlrun/mlrun:1.9.2',
      'mlrun/mlrun:1.9.2',
      'mlrun/mlrun',
    ]);
  });
});
