/**
 * Notices changes to files in some directories, for the config and certificate hot reloads. Kubernetes ConfigMap
 * and Secret volumes swap a `..data` symlink, so a watch on a file would follow its old inode and miss the swap:
 * this watches the directories (fs.watch, re-armed after an error) and polls as a fallback for filesystems where
 * fs.watch is silent (NFS, overlay quirks, inotify limits). Both only schedule one debounced check. Timers and
 * watches never keep the process alive, and no callback can throw out of here (that would kill the server).
 */
import { watch, type FSWatcher } from 'node:fs';

export interface DirWatchOptions {
  dirs: readonly string[];
  pollIntervalMs: number;
  /** Quiet time between the last event and the check. */
  debounceMs: number;
  /** The debounced check. */
  check: () => void;
  /** On each poll: whether to schedule a check (default: always). */
  pollSaysChanged?: () => boolean;
  /** false: poll only. Default true. */
  fsWatch?: boolean;
  /** Trouble with the watching itself, or a callback that threw. */
  warn: (message: string) => void;
}

export class DirWatch {
  private readonly watchers = new Map<string, FSWatcher>();
  /** Directories fs.watch refused, warned about once. */
  private readonly unwatchable = new Set<string>();
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly options: DirWatchOptions) {}

  start(): void {
    this.stop();
    this.running = true;
    this.arm();
    this.pollTimer = setInterval(
      () =>
        this.guard('poll', () => {
          this.arm(); // re-arm after an fs.watch error (e.g. the directory was replaced)
          if (this.options.pollSaysChanged?.() ?? true) this.schedule();
        }),
      Math.max(10, this.options.pollIntervalMs),
    );
    this.pollTimer.unref();
  }

  /** Idempotent. */
  stop(): void {
    this.running = false;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.pollTimer = this.debounceTimer = undefined;
    for (const dir of [...this.watchers.keys()]) this.unwatch(dir);
  }

  /** A check after the debounce; a new call restarts the wait. */
  schedule(): void {
    if (!this.running) return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      if (this.running) this.guard('check', this.options.check);
    }, this.options.debounceMs);
    this.debounceTimer.unref();
  }

  private arm(): void {
    if (!this.running || this.options.fsWatch === false) return;
    for (const dir of new Set(this.options.dirs)) {
      if (this.watchers.has(dir)) continue;
      try {
        // persistent: false, like unref(): watching must not keep the process alive.
        const w = watch(dir, { persistent: false }, () => this.guard('fs.watch', () => this.schedule()));
        w.on('error', (e) => {
          this.options.warn(`fs.watch on ${dir} failed (${e.message}); relying on polling`);
          if (this.watchers.get(dir) === w) this.unwatch(dir);
        });
        this.watchers.set(dir, w);
        this.unwatchable.delete(dir);
      } catch (e) {
        // ENOSPC (inotify limit), ENOENT ...: polling still works. Warn once, not on every poll.
        if (!this.unwatchable.has(dir)) this.options.warn(`cannot watch ${dir} (${(e as Error).message}); relying on polling`);
        this.unwatchable.add(dir);
      }
    }
  }

  private unwatch(dir: string): void {
    const w = this.watchers.get(dir);
    this.watchers.delete(dir);
    try {
      w?.close();
    } catch {
      /* already closed */
    }
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.options.warn(`${what} failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }
}
