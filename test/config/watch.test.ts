import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConfigProblem } from '../../src/config/runtime.js';
import { ConfigWatcher, type ConfigWatcherOptions, type ReloadResult } from '../../src/config/watch.js';

// CI is a slow shared 2-core machine: wait generously, never assert on timing.
const WAIT = { timeout: 30_000, interval: 25 };

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlrun-image-webhook-watch-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const yaml = (tag: string, extra = ''): string => `mlrun:\n  version: "1.9.2"\n  imagesTag: "${tag}"\n${extra}`;

/**
 * A ConfigMap volume as the kubelet lays it out:
 *   ..2026_01_01_00_00_00.1/config.yaml, ..data -> ..2026_01_01_00_00_00.1, config.yaml -> ..data/config.yaml
 * update() does what the kubelet does: new timestamped dir, new ..data_tmp symlink renamed over ..data (atomic),
 * old dir removed.
 */
function configMapVolume(initial: string): { dir: string; file: string; update: (text: string) => void } {
  const dir = tempDir();
  let generation = 1;
  let current = `..2026_01_01_00_00_00.${generation}`;
  mkdirSync(join(dir, current));
  writeFileSync(join(dir, current, 'config.yaml'), initial);
  symlinkSync(current, join(dir, '..data'));
  symlinkSync('..data/config.yaml', join(dir, 'config.yaml'));
  return {
    dir,
    file: join(dir, 'config.yaml'),
    update(text: string) {
      generation++;
      const next = `..2026_01_01_00_00_0${generation % 10}.${generation}`;
      mkdirSync(join(dir, next));
      writeFileSync(join(dir, next, 'config.yaml'), text);
      symlinkSync(next, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      rmSync(join(dir, current), { recursive: true, force: true });
      current = next;
    },
  };
}

function watcher(opts: ConfigWatcherOptions & { file?: string }) {
  const results: ReloadResult[] = [];
  const warnings: string[] = [];
  const w = new ConfigWatcher({
    pollIntervalMs: 100,
    debounceMs: 50,
    onWarning: (m) => warnings.push(m),
    ...opts,
    onReload: (r) => {
      results.push(r);
      opts.onReload?.(r);
    },
  });
  cleanups.push(() => w.stop());
  return { w, results, warnings };
}

const tagOf = (w: ConfigWatcher): string => w.current().config.mlrun.imagesTag;
const problemsOf = (r: ReloadResult | undefined): ConfigProblem[] => (r && !r.ok ? r.problems : []);

describe('ConfigWatcher', () => {
  it('start() loads the file; current() answers', () => {
    const vol = configMapVolume(yaml('one'));
    const { w } = watcher({ file: vol.file });
    const r = w.start();
    expect(r.ok).toBe(true);
    expect(r.source).toBe(vol.file);
    expect(tagOf(w)).toBe('one');
  });

  it('start() without a file uses the embedded default (and env)', () => {
    const { w } = watcher({ env: { MLRUN_IMAGES_TAG: 'from-env' } });
    const r = w.start();
    expect(r).toMatchObject({ ok: true, source: 'embedded default' });
    expect(w.current().config.mlrun.imagesRegistry).toBe('datanode-registry.example/');
    expect(tagOf(w)).toBe('from-env');
  });

  it('a failed start() reports the problems and current() has nothing to give', () => {
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'mlrun:\n  imagesTag: 1.6\n');
    const { w } = watcher({ file });
    const r = w.start();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems[0]!.key).toBe('mlrun.imagesTag');
    expect(() => w.current()).toThrow(/before a successful start/);
  });

  it('follows a ConfigMap ..data symlink swap', async () => {
    const vol = configMapVolume(yaml('one'));
    const { w, results } = watcher({ file: vol.file });
    expect(w.start().ok).toBe(true);
    vol.update(yaml('two'));
    await vi.waitFor(() => expect(tagOf(w)).toBe('two'), WAIT);
    expect(results).toHaveLength(1);
    expect(results[0]!.ok).toBe(true);
  });

  it('refuses a bad config, keeps the last good one, then takes the fixed one', async () => {
    const vol = configMapVolume(yaml('good'));
    const { w, results } = watcher({ file: vol.file });
    expect(w.start().ok).toBe(true);
    const before = w.current();

    vol.update('mlrun:\n  version: "1.9.2"\n  imagesTag: 1.6\n  bogus: 1\n');
    await vi.waitFor(() => expect(results.length).toBeGreaterThanOrEqual(1), WAIT);
    expect(results[0]!.ok).toBe(false);
    expect(problemsOf(results[0]).map((p) => p.key).sort()).toEqual(['mlrun.bogus', 'mlrun.imagesTag']);
    expect(w.current()).toBe(before);
    expect(w.stats().refused).toBe(1);

    vol.update(yaml('fixed'));
    await vi.waitFor(() => expect(tagOf(w)).toBe('fixed'), WAIT);
    // The bad content was reported once, not on every poll.
    expect(results.map((r) => r.ok)).toEqual([false, true]);
    expect(w.stats()).toMatchObject({ reloads: 1, refused: 1 });
  });

  it('refuses a YAML syntax error with the line, then recovers', async () => {
    const vol = configMapVolume(yaml('good'));
    const { w, results } = watcher({ file: vol.file });
    w.start();
    vol.update('mlrun:\n  imagesTag: [oops\n');
    await vi.waitFor(() => expect(results).toHaveLength(1), WAIT);
    expect(problemsOf(results[0])[0]).toMatchObject({ key: '(file)', reason: expect.stringMatching(/line \d+/) as unknown as string });
    expect(tagOf(w)).toBe('good');
    vol.update(yaml('good-again'));
    await vi.waitFor(() => expect(tagOf(w)).toBe('good-again'), WAIT);
  });

  it('refuses an invalid enrich regex on reload with its key', async () => {
    const vol = configMapVolume(yaml('good'));
    const { w, results } = watcher({ file: vol.file });
    w.start();
    vol.update(yaml('bad', '  imagesToEnrichRegistry: "^mlrun/*,(unclosed"\n'));
    await vi.waitFor(() => expect(results).toHaveLength(1), WAIT);
    expect(problemsOf(results[0])[0]!.key).toBe('mlrun.imagesToEnrichRegistry');
    expect(tagOf(w)).toBe('good');
  });

  it('follows in-place edits of a plain file', async () => {
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml('one'));
    const { w } = watcher({ file });
    w.start();
    writeFileSync(file, yaml('two'));
    await vi.waitFor(() => expect(tagOf(w)).toBe('two'), WAIT);
    writeFileSync(file, yaml('three'));
    await vi.waitFor(() => expect(tagOf(w)).toBe('three'), WAIT);
  });

  it('polling alone follows a ConfigMap swap (fs.watch fallback)', async () => {
    const vol = configMapVolume(yaml('one'));
    const { w } = watcher({ file: vol.file, fsWatch: false });
    w.start();
    vol.update(yaml('two'));
    await vi.waitFor(() => expect(tagOf(w)).toBe('two'), WAIT);
    vol.update('not: [valid');
    await vi.waitFor(() => expect(w.stats().refused).toBe(1), WAIT);
    expect(tagOf(w)).toBe('two');
    vol.update(yaml('three'));
    await vi.waitFor(() => expect(tagOf(w)).toBe('three'), WAIT);
  });

  it('skips no-op changes (same bytes) without calling onReload', async () => {
    const vol = configMapVolume(yaml('same'));
    const { w, results } = watcher({ file: vol.file });
    w.start();
    vol.update(yaml('same'));
    await vi.waitFor(() => expect(w.stats().unchanged).toBeGreaterThanOrEqual(1), WAIT);
    expect(results).toEqual([]);
    expect(w.stats().reloads).toBe(0);
  });

  it('keeps the last good config while the file is missing, and reloads when it is back', async () => {
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml('one'));
    const { w, results } = watcher({ file });
    w.start();
    unlinkSync(file);
    await vi.waitFor(() => expect(results).toHaveLength(1), WAIT);
    expect(problemsOf(results[0])[0]).toMatchObject({ key: '(file)', reason: expect.stringMatching(/ENOENT/) as unknown as string });
    expect(tagOf(w)).toBe('one');
    writeFileSync(file, yaml('two'));
    await vi.waitFor(() => expect(tagOf(w)).toBe('two'), WAIT);
  });

  it('applies env overrides on every reload', async () => {
    const vol = configMapVolume(yaml('file-one', '  imagesRegistry: a.example/\n'));
    const { w } = watcher({ file: vol.file, env: { MLRUN_IMAGES_TAG: 'env-tag' } });
    w.start();
    expect(tagOf(w)).toBe('env-tag');
    vol.update(yaml('file-two', '  imagesRegistry: b.example/\n'));
    await vi.waitFor(() => expect(w.current().config.mlrun.imagesRegistry).toBe('b.example/'), WAIT);
    expect(tagOf(w)).toBe('env-tag');
  });

  it('survives an onReload that throws, and keeps watching', async () => {
    const vol = configMapVolume(yaml('one'));
    const { w, warnings } = watcher({
      file: vol.file,
      onReload: () => {
        throw new Error('logger exploded');
      },
    });
    w.start();
    vol.update(yaml('two'));
    await vi.waitFor(() => expect(tagOf(w)).toBe('two'), WAIT);
    await vi.waitFor(() => expect(warnings.join('\n')).toMatch(/onReload threw: logger exploded/), WAIT);
    vol.update(yaml('three'));
    await vi.waitFor(() => expect(tagOf(w)).toBe('three'), WAIT);
  });

  it('reload() reloads on demand, even unchanged content, and reports through onReload', () => {
    const dir = tempDir();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, yaml('one'));
    const { w, results } = watcher({ file, fsWatch: false, pollIntervalMs: 3_600_000 });
    w.start();
    const r1 = w.reload();
    expect(r1.ok).toBe(true);
    expect(results).toHaveLength(1);
    writeFileSync(file, 'mlrun: [');
    const r2 = w.reload();
    expect(r2.ok).toBe(false);
    expect(tagOf(w)).toBe('one');
    writeFileSync(file, yaml('two'));
    expect(w.reload().ok).toBe(true);
    expect(tagOf(w)).toBe('two');
    expect(results.map((r) => r.ok)).toEqual([true, false, true]);
  });

  it('stop() is idempotent and current() still answers afterwards', () => {
    const vol = configMapVolume(yaml('one'));
    const { w } = watcher({ file: vol.file });
    w.start();
    w.stop();
    w.stop();
    expect(tagOf(w)).toBe('one');
    vol.update(yaml('two'));
    expect(w.reload().ok).toBe(true);
    expect(tagOf(w)).toBe('two');
  });
});
