/**
 * Hot reload of the config file, including the Kubernetes ConfigMap volume layout:
 *
 *   config.yaml -> ..data/config.yaml      (stable symlink, never changes)
 *   ..data      -> ..2026_01_01_00_00_00.1 (swapped atomically: new ..data_tmp symlink renamed over ..data)
 *
 * Changes are noticed by DirWatch (fs.watch on the directory, and a poll: here a cheap stat() of the resolved file
 * that asks for a check only when inode, size, mtime or ctime changed). A check reads the file and hashes it; a new
 * content is applied only once two consecutive checks one debounce apart agree (so a half-written file or a
 * transient ENOENT during a non-atomic replace is never applied or reported), and content equal to the last one
 * tried is skipped.
 *
 * A refused config never replaces the running one: current() keeps returning the last good runtime, and onReload
 * gets the problems. The same bad content is reported once, not on every poll.
 */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { DirWatch } from '../util/dir-watch.js';
import { loadConfig, loadConfigText, readConfigFile, type LoadResult } from './load.js';
import type { ConfigProblem, Runtime } from './runtime.js';

export type ReloadResult = { ok: true; runtime: Runtime } | { ok: false; problems: ConfigProblem[] };

export interface ConfigWatcherOptions {
  /** Config file; without it the embedded default is used and nothing is watched. */
  file?: string;
  env?: Record<string, string | undefined>;
  /** Called after every reload attempt, automatic or manual (reload()), so the server logs and counts in one place. */
  onReload?: (result: ReloadResult) => void;
  /** stat() poll interval, ms. Default 2000. */
  pollIntervalMs?: number;
  /** Quiet time before a check, and between the two reads that must agree, ms. Default 150. */
  debounceMs?: number;
  /** false: poll only (tests of the fallback). Default true. */
  fsWatch?: boolean;
  /** Trouble with the watching itself (fs.watch unavailable, onReload threw). Never about config content. */
  onWarning?: (message: string) => void;
}

export interface WatcherStats {
  /** Debounced checks run (each reads and hashes the file). */
  checks: number;
  /** New configs applied. */
  reloads: number;
  /** New configs refused (the last good one stays). */
  refused: number;
  /** Checks that found the content already tried (touch, rewrite with same bytes, swap to identical data). */
  unchanged: number;
}

const DEFAULT_POLL_MS = 2000;
const DEFAULT_DEBOUNCE_MS = 150;

type Snapshot = { key: string; read: { ok: true; text: string } | { ok: false; problem: ConfigProblem } };

export class ConfigWatcher {
  private readonly opts: ConfigWatcherOptions;
  private good: Runtime | undefined;
  /** Content key of the last config tried (applied or refused). */
  private lastTriedKey: string | undefined;
  /** A new content key seen once, waiting for a second read to confirm it settled. */
  private pendingKey: string | undefined;
  private lastStat: string | undefined;
  private dirWatch: DirWatch | undefined;
  private readonly counters: WatcherStats = { checks: 0, reloads: 0, refused: 0, unchanged: 0 };

  constructor(opts: ConfigWatcherOptions) {
    this.opts = { ...opts };
  }

  /** Initial load. On failure nothing is watched and the caller should refuse to start. */
  start(): LoadResult {
    this.stop();
    const file = this.opts.file;
    if (file === undefined) {
      const result = loadConfig({ env: this.opts.env });
      if (result.ok) this.good = result.runtime;
      return result;
    }
    const snap = this.snapshot(file);
    const result: LoadResult = snap.read.ok
      ? loadConfigText(snap.read.text, file, this.opts.env)
      : { ok: false, problems: [snap.read.problem], source: file };
    if (!result.ok) return result;
    this.good = result.runtime;
    this.lastTriedKey = snap.key;
    this.lastStat = statSignature(file);
    this.dirWatch = new DirWatch({
      dirs: [dirname(file)],
      pollIntervalMs: this.opts.pollIntervalMs ?? DEFAULT_POLL_MS,
      debounceMs: this.opts.debounceMs ?? DEFAULT_DEBOUNCE_MS,
      fsWatch: this.opts.fsWatch,
      // The poll is a cheap stat(); only a changed signature is worth reading the file for.
      pollSaysChanged: () => {
        const sig = statSignature(file);
        if (sig === this.lastStat) return false;
        this.lastStat = sig;
        return true;
      },
      check: () => this.check(file),
      warn: (message) => this.warn(`config watcher: ${message}`),
    });
    this.dirWatch.start();
    return result;
  }

  /** The last good runtime. */
  current(): Runtime {
    if (!this.good) throw new Error('ConfigWatcher.current() called before a successful start()');
    return this.good;
  }

  /** Reload now (e.g. on SIGHUP), even if the content did not change. Calls onReload too. */
  reload(): ReloadResult {
    const file = this.opts.file;
    if (file === undefined) {
      const loaded = loadConfig({ env: this.opts.env });
      const result: ReloadResult = loaded.ok ? { ok: true, runtime: loaded.runtime } : { ok: false, problems: loaded.problems };
      if (result.ok) this.good = result.runtime;
      this.notify(result);
      return result;
    }
    this.pendingKey = undefined;
    return this.apply(file, this.snapshot(file));
  }

  /** Stops watching; current() keeps answering. Idempotent. */
  stop(): void {
    this.pendingKey = undefined;
    this.dirWatch?.stop();
    this.dirWatch = undefined;
  }

  stats(): WatcherStats {
    return { ...this.counters };
  }

  // -------------------------------------------------------------------------------------------------------------

  private check(file: string): void {
    this.counters.checks++;
    const snap = this.snapshot(file);
    if (snap.key === this.lastTriedKey) {
      this.pendingKey = undefined;
      this.counters.unchanged++;
      return;
    }
    if (snap.key !== this.pendingKey) {
      // First sight of this content: confirm it is settled before acting on it.
      this.pendingKey = snap.key;
      this.dirWatch?.schedule();
      return;
    }
    this.pendingKey = undefined;
    this.apply(file, snap);
  }

  private apply(file: string, snap: Snapshot): ReloadResult {
    this.lastTriedKey = snap.key;
    let result: ReloadResult;
    if (snap.read.ok) {
      const loaded = loadConfigText(snap.read.text, file, this.opts.env);
      result = loaded.ok ? { ok: true, runtime: loaded.runtime } : { ok: false, problems: loaded.problems };
    } else {
      result = { ok: false, problems: [snap.read.problem] };
    }
    if (result.ok) {
      this.good = result.runtime;
      this.counters.reloads++;
    } else {
      this.counters.refused++;
    }
    this.notify(result);
    return result;
  }

  /** Reads the file once; the key identifies its content (or the read error) for no-op detection. */
  private snapshot(file: string): Snapshot {
    const read = readConfigFile(file);
    const key = read.ok ? `sha256:${createHash('sha256').update(read.text).digest('hex')}` : `error:${read.problem.reason}`;
    return { key, read };
  }

  private notify(result: ReloadResult): void {
    if (!this.opts.onReload) return;
    try {
      this.opts.onReload(result);
    } catch (e) {
      this.warn(`onReload threw: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  private warn(message: string): void {
    try {
      this.opts.onWarning?.(message);
    } catch {
      /* a broken logger must not break reloading */
    }
  }
}

/** stat() follows symlinks, so a ConfigMap swap changes the inode even though the path stays the same. */
function statSignature(file: string): string {
  try {
    const s = statSync(file, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch (e) {
    return `error:${(e as NodeJS.ErrnoException).code ?? String(e)}`;
  }
}
