/**
 * Large admissions off the event loop (ADR 0014). A review of megabytes takes JSON.parse tens of milliseconds (a
 * 2.7 MiB one: 20-25 ms, then the GC of its graph), and every admission behind it waits that long. Bodies over the
 * large-body size go, as bytes, to one worker thread that parses them and runs admit() there; the event loop
 * copies the bytes and later writes the answer the worker wrote.
 *
 * Why a session (open, admit..., close) rather than one call: the worker must parse before the server can pick the
 * runtime (the namespace is in the body), and with a registry, admit() asks the cache about images the server only
 * learns from a first pass. The parsed body stays in the worker; only bytes in, and answers and summaries out.
 *
 * Failures: a worker that cannot start is 'unavailable' (nothing was sent: the caller may decide on the event
 * loop); one that ends while it has a request is 'crashed' (the bytes went to it).
 *
 * Bounds: one session at a time (the rest wait in FIFO order, at most `maxWaiting`, and one whose request is gone
 * is skipped), a call that takes longer than `callTimeoutMs` ends the worker (it is started again for the next),
 * the worker's heap is capped (`heapMb`: a body that needs more to parse is refused, 400), and an idle worker ends
 * after `idleMs` so that its memory goes back.
 */
import { Worker } from 'node:worker_threads';
import type { AdmissionResult, MirrorStateName } from '../admission/types.js';
import type { Runtime } from '../config/runtime.js';

/** A registry cache read: image, state, digest. */
export type RegistryState = [image: string, state: MirrorStateName, digest: string | undefined];

export type ToWorker =
  | { t: 'open'; id: number; bytes: ArrayBuffer }
  | {
      t: 'admit';
      id: number;
      runtimeId: number;
      config: Runtime['config'];
      production: boolean;
      final: boolean;
      /** Absent: no registry (no mirror checks, no digest pinning). */
      states?: RegistryState[];
    }
  | { t: 'unchanged'; id: number; detail: string }
  | { t: 'close'; id: number };

/** The id of the worker's first message, sent once its modules have loaded. */
export const READY_ID = 0;

export type FromWorker =
  | { t: 'ready'; id: typeof READY_ID }
  | { t: 'opened'; id: number; ok: true; namespace: string | undefined }
  | { t: 'opened'; id: number; ok: false; reason: string }
  /** error: admit() threw in the worker, and result is the Pod admitted unchanged (admitAfterInternalError). */
  | { t: 'admitted'; id: number; result: AdmissionResult; asked: string[]; error?: string }
  | { t: 'failed'; id: number; error: string };

export interface OffThreadOptions {
  /** The worker script (dist/server/admission-worker.js). */
  workerUrl: URL;
  /** The worker's old-generation heap (MiB): the most one large review may take to parse and admit. */
  heapMb: number;
  /** A worker call that takes longer ends the worker. */
  callTimeoutMs: number;
  /** Sessions waiting for the worker at most; past it: busy. */
  maxWaiting: number;
  /** An unused worker ends after this long. */
  idleMs: number;
}

export const DEFAULT_OFF_THREAD: Readonly<Omit<OffThreadOptions, 'workerUrl'>> = Object.freeze({
  // A real 3 MiB review parses into < 15 MiB; 64 leaves room and keeps the worker well inside the Pod's limit.
  heapMb: 64,
  // admit() is linear and capped (512 containers): a call this long means something is wrong with the worker.
  callTimeoutMs: 10_000,
  // Large bodies in flight are bounded by the body budget (48 MiB = 192 bodies of 256 KiB); this is a second cap.
  maxWaiting: 256,
  idleMs: 60_000,
});

/** Why the worker could not answer. */
export type OffThreadFailureKind =
  /** The body needs more than heapMb to parse or admit: refused (400). */
  | 'heap'
  /** The worker did not answer in callTimeoutMs (it was ended). */
  | 'timeout'
  /** Too many sessions waiting. */
  | 'busy'
  /** The worker could not start (nothing was sent to it: the caller still has its bytes). */
  | 'unavailable'
  /** The worker ended while it had the request (its bytes went with it). */
  | 'crashed';

export class OffThreadFailure extends Error {
  constructor(
    readonly kind: OffThreadFailureKind,
    message: string,
  ) {
    super(message);
  }
}

/** One opened body in the worker. */
export interface OffThreadSession {
  /** The body is not JSON: the parser's reason (no slice of the body). */
  invalid: string | undefined;
  /** request.namespace as requestNamespace() reads it. */
  namespace: string | undefined;
  admit(
    runtime: Runtime,
    production: boolean,
    states: RegistryState[] | undefined,
    final: boolean,
  ): Promise<{ result: AdmissionResult; asked: string[]; error?: string }>;
  /** The server could not pick a runtime: the Pod admitted unchanged with this detail (admitAfterInternalError). */
  unchanged(detail: string): Promise<AdmissionResult>;
}

interface Pending {
  resolve(reply: FromWorker): void;
  reject(err: OffThreadFailure): void;
  timer: NodeJS.Timeout;
}

export class OffThreadAdmissions {
  readonly #options: OffThreadOptions;
  #worker: Worker | undefined;
  /** The current worker, once it has loaded. */
  #ready: Promise<Worker> | undefined;
  /** The current worker has loaded (sent 'ready'). */
  #loaded = false;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  readonly #runtimeIds = new WeakMap<Runtime, number>();
  #nextRuntimeId = 1;
  #busy = false;
  readonly #waiting: (() => void)[] = [];
  #idleTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: OffThreadOptions) {
    this.#options = options;
  }

  /** Sessions waiting for their turn (for tests and docs). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Whether a worker thread is running now. */
  get running(): boolean {
    return this.#worker !== undefined;
  }

  /**
   * Opens `bytes` in the worker when its turn comes, runs `use` with the session, and closes it. `alive` is asked
   * when the turn comes: false (the request is gone) skips the session (resolves undefined, nothing parsed).
   * Rejects with OffThreadFailure when the worker cannot answer.
   */
  async run<T>(bytes: Buffer, alive: () => boolean, use: (session: OffThreadSession) => Promise<T>): Promise<T | undefined> {
    if (this.#stopped) throw new OffThreadFailure('unavailable', 'the admission worker is stopped');
    if (this.#busy) {
      if (this.#waiting.length >= this.#options.maxWaiting) throw new OffThreadFailure('busy', 'too many large admissions waiting; retry');
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else this.#busy = true;
    const id = this.#nextId++;
    let opened = false;
    try {
      if (!alive()) return undefined;
      // The bytes move to the worker without a copy when they own their memory (fastify's body Buffer does: one
      // allocation of its size): on a VM a fresh copy of 2.7 MiB costs milliseconds of page faults. From here on,
      // `bytes` is empty.
      const ab = bytes.buffer;
      const owned = ab instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === ab.byteLength;
      const send = owned ? ab : new Uint8Array(bytes).buffer;
      const reply = await this.#call({ t: 'open', id, bytes: send }, [send]);
      if (reply.t !== 'opened') throw unexpected(reply);
      opened = reply.ok;
      const session: OffThreadSession = {
        invalid: reply.ok ? undefined : reply.reason,
        namespace: reply.ok ? reply.namespace : undefined,
        admit: (runtime, production, states, final) =>
          this.#admitted({ t: 'admit', id, runtimeId: this.#runtimeId(runtime), config: runtime.config, production, final, states }),
        unchanged: async (detail) => (await this.#admitted({ t: 'unchanged', id, detail })).result,
      };
      return await use(session);
    } finally {
      if (opened && this.#worker) this.#worker.postMessage({ t: 'close', id } satisfies ToWorker);
      this.#next();
    }
  }

  /** Ends the worker and refuses further sessions; sessions in progress fail (crashed). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#idleTimer);
    this.#end(new OffThreadFailure('crashed', 'the admission worker was stopped'));
    for (const w of this.#waiting.splice(0)) w();
  }

  #next(): void {
    const nextUp = this.#waiting.shift();
    if (nextUp) return nextUp();
    this.#busy = false;
    if (this.#worker && !this.#stopped) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = setTimeout(() => {
        if (!this.#busy) this.#end(new OffThreadFailure('crashed', 'the admission worker ended (idle)'));
      }, this.#options.idleMs);
      this.#idleTimer.unref();
    }
  }

  /** A call whose answer is an admission. */
  async #admitted(message: ToWorker): Promise<Extract<FromWorker, { t: 'admitted' }>> {
    const r = await this.#call(message);
    if (r.t !== 'admitted') throw unexpected(r);
    return r;
  }

  #runtimeId(runtime: Runtime): number {
    let id = this.#runtimeIds.get(runtime);
    if (id === undefined) {
      id = this.#nextRuntimeId++;
      this.#runtimeIds.set(runtime, id);
    }
    return id;
  }

  async #call(message: ToWorker, transfer: ArrayBuffer[] = []): Promise<FromWorker> {
    // Stopped: nothing more is sent ('unavailable'; a session whose bytes were sent fails on its own pending call).
    if (this.#stopped) throw new OffThreadFailure('unavailable', 'the admission worker is stopped');
    // Nothing is sent (and no bytes transferred) before the worker has loaded: one that cannot start leaves the
    // caller's bytes whole for a decision on the event loop.
    const worker = await this.#ensureWorker();
    if (worker !== this.#worker) throw new OffThreadFailure('crashed', 'the admission worker ended');
    return new Promise<FromWorker>((resolve, reject) => {
      this.#pending.set(message.id, { resolve, reject, timer: this.#deadline('timeout', 'answer') });
      try {
        worker.postMessage(message, transfer);
      } catch (err) {
        this.#settle(message.id)?.reject(new OffThreadFailure('crashed', `posting to the admission worker failed: ${(err as Error).message}`));
      }
    });
  }

  /** A timer that ends the current worker when a call (or the start) takes longer than callTimeoutMs. */
  #deadline(kind: OffThreadFailureKind, what: string): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#end(new OffThreadFailure(kind, `the admission worker did not ${what} in ${this.#options.callTimeoutMs} ms`));
    }, this.#options.callTimeoutMs);
    timer.unref();
    return timer;
  }

  #settle(id: number): Pending | undefined {
    const p = this.#pending.get(id);
    if (!p) return undefined;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    return p;
  }

  /** The current worker once it has loaded (its 'ready' message), starting one if needed. */
  #ensureWorker(): Promise<Worker> {
    clearTimeout(this.#idleTimer);
    if (this.#ready) return this.#ready;
    let worker: Worker;
    try {
      worker = new Worker(this.#options.workerUrl, {
        resourceLimits: { maxOldGenerationSizeMb: this.#options.heapMb, maxYoungGenerationSizeMb: 8 },
        // The worker needs no stdin and must not write to the server's stdout/stderr (the log is the server's).
        stdin: false,
        stdout: true,
        stderr: true,
      });
    } catch (err) {
      // e.g. ERR_WORKER_INIT_FAILED (no threads left): nothing was sent.
      return Promise.reject(new OffThreadFailure('unavailable', `the admission worker cannot start: ${(err as Error).message}`));
    }
    worker.stdout.resume();
    worker.stderr.resume();
    this.#worker = worker;
    this.#loaded = false;
    this.#ready = new Promise<Worker>((resolve, reject) => {
      this.#pending.set(READY_ID, {
        resolve: () => {
          this.#loaded = true;
          resolve(worker);
        },
        reject,
        timer: this.#deadline('unavailable', 'start'),
      });
    });
    // Observed here so that a failed start is never an unhandled rejection; callers see it through #call.
    this.#ready.catch(() => undefined);
    worker.on('message', (reply: FromWorker) => this.#settle(reply.id)?.resolve(reply));
    worker.on('error', (err: Error & { code?: string }) => {
      const heap = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.#end(
        new OffThreadFailure(heap ? 'heap' : 'crashed', heap ? `the request needs more than the ${this.#options.heapMb} MiB a large admission may use` : `the admission worker failed: ${err.message}`),
        worker,
      );
    });
    worker.on('exit', (code) => this.#end(new OffThreadFailure('crashed', `the admission worker exited (code ${code})`), worker));
    return this.#ready;
  }

  /** Ends `worker` (default: the current one) and fails what waits on it; the next call starts a new one. */
  #end(failure: OffThreadFailure, worker: Worker | undefined = this.#worker): void {
    if (!worker || worker !== this.#worker) return;
    // A worker that never loaded failed to start, whatever the event: nothing was sent to it.
    if (!this.#loaded) failure = new OffThreadFailure('unavailable', failure.message);
    this.#worker = undefined;
    this.#ready = undefined;
    clearTimeout(this.#idleTimer);
    worker.removeAllListeners('message');
    void worker.terminate().catch(() => undefined);
    for (const id of [...this.#pending.keys()]) this.#settle(id)!.reject(failure);
  }
}

function unexpected(reply: FromWorker): OffThreadFailure {
  return new OffThreadFailure('crashed', reply.t === 'failed' ? `the admission worker failed: ${reply.error}` : `unexpected answer from the admission worker: ${reply.t}`);
}
