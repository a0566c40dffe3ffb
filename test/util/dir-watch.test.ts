import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DirWatch, type DirWatchOptions } from '../../src/util/dir-watch.js';

const WAIT = { timeout: 10_000, interval: 20 };
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(options: Partial<DirWatchOptions>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'miw-dirwatch-'));
  const checks = { n: 0 };
  const warnings: string[] = [];
  const w = new DirWatch({ dirs: [dir], pollIntervalMs: 3_600_000, debounceMs: 20, check: () => checks.n++, warn: (m) => warnings.push(m), ...options });
  w.start();
  cleanups.push(() => rm(dir, { recursive: true, force: true }), () => w.stop());
  return { dir, w, checks, warnings };
}

describe('DirWatch', () => {
  it('checks once, debounced, after a burst of writes in the directory', async () => {
    // A long debounce: a slow shared machine may spread the writes over many milliseconds.
    const { dir, checks } = await setup({ debounceMs: 500 });
    for (let i = 0; i < 5; i++) await writeFile(path.join(dir, 'f'), String(i));
    await vi.waitFor(() => expect(checks.n).toBe(1), WAIT);
    await new Promise((r) => setTimeout(r, 700));
    expect(checks.n).toBe(1);
  });

  it('polls where fs.watch is off, and asks the poll whether a check is worth it', async () => {
    let changed = false;
    const { checks } = await setup({ fsWatch: false, pollIntervalMs: 20, pollSaysChanged: () => changed });
    await new Promise((r) => setTimeout(r, 120));
    expect(checks.n).toBe(0);
    changed = true;
    await vi.waitFor(() => expect(checks.n).toBeGreaterThan(0), WAIT);
  });

  it('turns a throwing check into a warning, and stops checking after stop()', async () => {
    const { w, warnings } = await setup({
      check: () => {
        throw new Error('boom');
      },
    });
    w.schedule();
    await vi.waitFor(() => expect(warnings).toEqual(['check failed: boom']), WAIT);
    w.stop();
    w.schedule();
    await new Promise((r) => setTimeout(r, 80));
    expect(warnings).toHaveLength(1);
  });

  it('warns once about a directory it cannot watch, and keeps polling', async () => {
    let polls = 0;
    const { warnings } = await setup({ dirs: ['/nonexistent/miw-dirwatch'], pollIntervalMs: 20, pollSaysChanged: () => (polls++, false) });
    await vi.waitFor(() => expect(polls).toBeGreaterThan(3), WAIT);
    expect(warnings).toEqual([expect.stringMatching(/^cannot watch \/nonexistent\/miw-dirwatch .*relying on polling$/)]);
  });
});
