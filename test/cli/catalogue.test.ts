import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCatalogue } from '../../src/cli/catalogue.js';
import { runCommand } from '../helpers/cli.js';

const run = (argv: string[]) => runCommand(runCatalogue, argv);

const dir = mkdtempSync(join(tmpdir(), 'catalogue-cli-'));
const config = join(dir, 'config.yaml');
writeFileSync(
  config,
  'mlrun:\n  version: "1.9.2"\n  imagesRegistry: "datanode.local:5000/"\n  vendorImagesRegistry: "datanode.local:5000/vendor/"\n',
);

describe('catalogue', () => {
  it('lists source → mirror pairs for the config version, as the engine names them', async () => {
    const r = await run(['--config', config, '--python', '3.9']);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toContain('docker.io/mlrun/mlrun:1.9.2-py39 datanode.local:5000/mlrun/mlrun:1.9.2-py39');
    expect(lines).toContain('docker.io/mlrun/mlrun-kfp:1.9.2 datanode.local:5000/mlrun/mlrun-kfp:1.9.2');
    expect(lines).toContain('quay.io/mlrun/mlrun-api:1.9.2 datanode.local:5000/mlrun/mlrun-api:1.9.2');
    expect(lines).toContain('docker.io/library/python:3.9 datanode.local:5000/vendor/python:3.9');
    expect(lines.some((l) => l.includes('-py39') && l.includes('mlrun-api'))).toBe(false);
  });

  it('another MLRun version takes that version\'s rules and default patterns', async () => {
    const r = await run(['--config', config, '--mlrun-version', '1.6.4', '--format', 'crane']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^#!\/bin\/sh\nset -eu\n/);
    expect(r.out).toContain('crane copy docker.io/mlrun/mlrun:1.6.4 datanode.local:5000/mlrun/mlrun:1.6.4\n');
    expect(r.out).not.toContain('mlrun-kfp');
    expect(r.out).not.toContain('python:3');
  });

  it('--json carries every field', async () => {
    const r = await run(['--config', config, '--json']);
    const doc = JSON.parse(r.out) as { mlrunVersion: string; entries: { role: string; confirmed: boolean }[] };
    expect(doc.mlrunVersion).toBe('1.9.2');
    expect(new Set(doc.entries.map((e) => e.role))).toEqual(new Set(['runtime', 'infrastructure', 'python-base']));
  });

  it.each([
    [['--format', 'zip'], /--format must be one of list, crane, skopeo/],
    [['--mlrun-version', '0.5.0'], /mlrun.version: MLRun 0.5.0 is older than 0.10.0/],
    [['extra'], /unexpected argument/],
    [['--config', join(dir, 'missing.yaml')], /refused/],
  ])('usage and config errors exit 2: %s', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});
