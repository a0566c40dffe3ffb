/**
 * The runtimes in effect: the static one (config file + env, from the file watcher) and one per discovered MLRun
 * install. Admission asks `current(namespace)`: the install of the Pod's own namespace, else the install of
 * discovery.defaultNamespace, else the static runtime. One Map lookup per request; everything else happens when
 * the installs or the static config change.
 *
 * Refusals never lose anything: a discovered install the server cannot use keeps that namespace on its last good
 * runtime (or, if it never had one, on the fallback). Every update says, per namespace, what was adopted (with the
 * before/after of each key), refused (with the problems), removed, or is pending in MLRun itself.
 */
import type { MlrunInstall, PendingChange } from '../cluster/types.js';
import { DISCOVERED_KEYS, discoveredValue, runtimeForInstall, type DiscoveredKey } from './installs.js';
import type { ConfigProblem, Runtime } from './runtime.js';

export interface KeyChange {
  key: string;
  before: string | null | undefined;
  after: string | null | undefined;
  /** Where the new value comes from (the object and key, an override, MLRun's default ...). */
  source?: string;
}

export interface InstallEvent {
  namespace: string;
  /**
   * adopted: the namespace's runtime changed (changes: each key that differs from what its Pods got before);
   * refused: the install cannot be used (problems), the last good runtime (or the fallback) keeps serving;
   * removed: the namespace no longer has an MLRun API; its Pods fall back to the default install or static config;
   * pending: MLRun itself has not applied a change yet (changes: current → next as MLRun will see them).
   */
  kind: 'adopted' | 'refused' | 'removed' | 'pending';
  changes: KeyChange[];
  problems?: ConfigProblem[];
  /** The object followed ("Pod mlrun/mlrun-api-chief-x", "Deployment mlrun/mlrun-api-chief"). */
  source: string;
  /** Load-time notes of the adopted runtime (not-followed keys, compat kept, doubts about the install). */
  notes?: string[];
}

/** What metrics and logs need of each discovered namespace. */
export interface InstallState {
  namespace: string;
  /** The MLRun version in effect for the namespace (its last good runtime), undefined when it has none. */
  version: string | undefined;
  /** The object followed. */
  source: string;
  /** The latest install was refused (the last good, if any, keeps serving). */
  refused: boolean;
  pending: number;
}

interface Entry {
  install: MlrunInstall;
  /** Identity of what the runtime is built from (observedAt and pending left out). */
  fingerprint: string;
  pendingFingerprint: string;
  /** Last good runtime; undefined when every install seen so far was refused. */
  runtime: Runtime | undefined;
  refused: boolean;
}

/** The keys whose before/after an adopted change reports. */
const REPORTED_KEYS: readonly DiscoveredKey[] = DISCOVERED_KEYS.map((k) => k.key);

function installFingerprint(i: MlrunInstall): string {
  return JSON.stringify([i.serverVersion, i.serverVersionSource, i.followed, i.env, i.notFollowed.map((n) => [n.key, n.source, n.reason]), i.problems]);
}

function pendingFingerprint(p: readonly PendingChange[]): string {
  return JSON.stringify(p.map((c) => [c.key, c.current, c.next, c.source]));
}

export class RuntimeSet {
  #static: Runtime;
  readonly #entries = new Map<string, Entry>();
  /** Where each discovered key of a namespace's last good runtime came from (for the adopted events). */
  readonly #sources = new Map<string, Record<DiscoveredKey, string>>();

  constructor(staticRuntime: Runtime) {
    this.#static = staticRuntime;
  }

  /** The static runtime (file + env): what namespaces without an install use when there is no default install. */
  get staticRuntime(): Runtime {
    return this.#static;
  }

  /** RuntimeSource for the server: the runtime for a Pod of `namespace` (undefined: the fallback). */
  current(namespace?: string): Runtime {
    return this.forNamespace(namespace);
  }

  /** Own install's last good runtime, else discovery.defaultNamespace's, else the static runtime. */
  forNamespace(namespace: string | undefined): Runtime {
    const discovery = this.#static.config.discovery;
    // Discovery switched off by a reload: the static config alone applies, whatever was discovered before.
    if (!discovery.enabled) return this.#static;
    if (namespace !== undefined) {
      const own = this.#entries.get(namespace)?.runtime;
      if (own) return own;
    }
    if (discovery.defaultNamespace) {
      const fallback = this.#entries.get(discovery.defaultNamespace)?.runtime;
      if (fallback) return fallback;
    }
    return this.#static;
  }

  /**
   * Takes the installs as the watcher now sees them (every namespace; a missing one has no MLRun API any more).
   * Only namespaces whose install changed are rebuilt. Returns what happened, for logs and metrics.
   */
  update(installs: ReadonlyMap<string, MlrunInstall>): InstallEvent[] {
    const events: InstallEvent[] = [];
    const before = this.#snapshot();
    for (const [namespace, entry] of [...this.#entries]) {
      if (installs.has(namespace)) continue;
      this.#entries.delete(namespace);
      this.#sources.delete(namespace);
      events.push({ namespace, kind: 'removed', changes: [], source: entry.install.followed });
    }
    for (const [namespace, install] of installs) {
      const prev = this.#entries.get(namespace);
      const fingerprint = installFingerprint(install);
      const pendingFp = pendingFingerprint(install.pending);
      if (prev && prev.fingerprint === fingerprint) {
        this.#entries.set(namespace, { ...prev, install, pendingFingerprint: pendingFp });
      } else {
        const refusal = this.#build(namespace, install, prev?.runtime, fingerprint, pendingFp);
        if (refusal) events.push(refusal);
      }
      if (install.pending.length > 0 && pendingFp !== prev?.pendingFingerprint) {
        events.push({
          namespace,
          kind: 'pending',
          changes: install.pending.map((p) => ({ key: p.key, before: p.current, after: p.next, source: p.source })),
          source: install.followed,
        });
      }
    }
    events.push(...this.#adoptions(before));
    return events;
  }

  /**
   * A new static config (file reload): every namespace is rebuilt on it from its last install. A namespace whose
   * install the new static config cannot take is refused and keeps its last good runtime.
   */
  setStatic(runtime: Runtime): InstallEvent[] {
    const before = this.#snapshot();
    this.#static = runtime;
    const events: InstallEvent[] = [];
    for (const [namespace, entry] of [...this.#entries]) {
      const refusal = this.#build(namespace, entry.install, entry.runtime, entry.fingerprint, entry.pendingFingerprint);
      if (refusal) events.push(refusal);
    }
    events.push(...this.#adoptions(before));
    return events;
  }

  /** Per discovered namespace, for the install-info metric and logs. */
  states(): InstallState[] {
    return [...this.#entries].map(([namespace, e]) => ({
      namespace,
      version: e.runtime?.config.mlrun.version,
      source: e.install.followed,
      refused: e.refused,
      pending: e.install.pending.length,
    }));
  }

  /** Changes MLRun itself has not applied yet, over all namespaces (the pending-changes gauge). */
  pendingChanges(): number {
    let n = 0;
    for (const e of this.#entries.values()) n += e.install.pending.length;
    return n;
  }

  /** Builds a namespace's runtime; returns the refusal event, or undefined when adopted (reported by #adoptions). */
  #build(namespace: string, install: MlrunInstall, lastGood: Runtime | undefined, fingerprint: string, pendingFp: string): InstallEvent | undefined {
    const r = runtimeForInstall(this.#static.config, install);
    if (r.ok) {
      this.#entries.set(namespace, { install, fingerprint, pendingFingerprint: pendingFp, runtime: r.runtime, refused: false });
      this.#sources.set(namespace, r.sources);
      return undefined;
    }
    this.#entries.set(namespace, { install, fingerprint, pendingFingerprint: pendingFp, runtime: lastGood, refused: true });
    return { namespace, kind: 'refused', changes: [], problems: r.problems, source: install.followed };
  }

  /** What each known namespace resolves with, and whether that was its own runtime, to compare after a change. */
  #snapshot(): Map<string, { runtime: Runtime; own: boolean }> {
    const m = new Map<string, { runtime: Runtime; own: boolean }>();
    for (const [namespace, e] of this.#entries) {
      const runtime = this.forNamespace(namespace);
      m.set(namespace, { runtime, own: e.runtime !== undefined && runtime === e.runtime });
    }
    return m;
  }

  /**
   * An 'adopted' event for every discovered namespace that now resolves with its own new runtime: when a
   * discovered key differs from what its Pods got before, or when it gets a runtime of its own for the first time
   * (a Pod restart that changes nothing, or a static reload that leaves every discovered key alone, logs nothing).
   */
  #adoptions(before: ReadonlyMap<string, { runtime: Runtime; own: boolean }>): InstallEvent[] {
    const events: InstallEvent[] = [];
    for (const [namespace, entry] of this.#entries) {
      const now = this.forNamespace(namespace);
      if (!entry.runtime || entry.refused || now !== entry.runtime) continue;
      const prev = before.get(namespace);
      const was = prev?.runtime ?? this.#fallbackBefore(before);
      if (now === was) continue;
      const sources = this.#sources.get(namespace);
      const changes: KeyChange[] = [];
      for (const key of REPORTED_KEYS) {
        const b = discoveredValue(was.config, key);
        const a = discoveredValue(now.config, key);
        if (b !== a) changes.push({ key, before: b, after: a, ...(sources ? { source: sources[key] } : {}) });
      }
      if (changes.length === 0 && prev?.own) continue;
      events.push({ namespace, kind: 'adopted', changes, source: entry.install.followed, notes: now.notes });
    }
    return events;
  }

  /** A namespace seen for the first time had the fallback before: the default install's, else static. */
  #fallbackBefore(before: ReadonlyMap<string, { runtime: Runtime }>): Runtime {
    const d = this.#static.config.discovery.defaultNamespace;
    return (d ? before.get(d)?.runtime : undefined) ?? this.#static;
  }
}
