/**
 * The admission worker (ADR 0014): parses a large AdmissionReview and runs admit() on it, off the event loop that
 * answers every other admission. It holds only what it was sent: the parsed bodies of the sessions the server
 * opened (at most MAX_SESSIONS), and runtimes rebuilt from the configs the server sent (at most MAX_RUNTIMES).
 * No I/O: registry knowledge comes in as states the server read from its cache.
 */
import { parentPort } from 'node:worker_threads';
import { admit, admitAfterInternalError } from '../admission/admit.js';
import type { AdmissionResult, AdmitContext, MirrorStateName, RegistryView } from '../admission/types.js';
import { buildRuntime, type Runtime } from '../config/runtime.js';
import { readJsonBody, requestNamespace } from './body.js';
import { READY_ID, type FromWorker, type ToWorker } from './off-thread.js';

/** The server opens one session at a time (off-thread.ts); a few more only if a close was lost. */
const MAX_SESSIONS = 4;
/** Runtimes kept by id: the static one and a few discovered installs cover every admission of a burst. */
const MAX_RUNTIMES = 16;

const sessions = new Map<number, unknown>();
const runtimes = new Map<number, Runtime>();

function runtimeFor(id: number, config: Runtime['config']): Runtime {
  const known = runtimes.get(id);
  if (known) return known;
  const built = buildRuntime(config);
  // The server only sends configs it serves with, so this cannot fail unless the two builds disagree.
  if (!built.ok) throw new Error(`the worker cannot build the server's runtime: ${built.problems.map((p) => `${p.key}: ${p.reason}`).join('; ')}`);
  if (runtimes.size >= MAX_RUNTIMES) runtimes.delete(runtimes.keys().next().value!);
  runtimes.set(id, built.runtime);
  return built.runtime;
}

/** The registry cache as the server read it for this admission; an image it was not asked about is recorded. */
function registryView(states: readonly [string, MirrorStateName, string | undefined][], asked: Set<string>): RegistryView {
  const known = new Map(states.map(([image, state, digest]) => [image, digest === undefined ? { state } : { state, digest }]));
  return {
    state(image) {
      const s = known.get(image);
      if (s) return s;
      asked.add(image);
      return { state: 'unknown' };
    },
  };
}

/** An admission's answer for the server: its text goes back once (body is only for a result admit() did not write as text). */
function admitted(id: number, result: AdmissionResult, asked: string[], error?: string): FromWorker {
  if (result.status === 200 && result.json !== undefined) result = { ...result, body: undefined as never };
  return { t: 'admitted', id, result, asked, ...(error !== undefined ? { error } : {}) };
}

function handle(message: ToWorker): FromWorker | undefined {
  switch (message.t) {
    case 'open': {
      const read = readJsonBody(Buffer.from(message.bytes).toString('utf8'));
      if ('problem' in read) return { t: 'opened', id: message.id, ok: false, reason: read.problem };
      if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
      sessions.set(message.id, read.value);
      return { t: 'opened', id: message.id, ok: true, namespace: requestNamespace(read.value) };
    }
    case 'admit':
    case 'unchanged': {
      if (!sessions.has(message.id)) return { t: 'failed', id: message.id, error: 'no such session (closed or evicted)' };
      const body = sessions.get(message.id);
      // The server could not pick a runtime (no usable config): admitted unchanged, as on the event loop.
      if (message.t === 'unchanged') return admitted(message.id, admitAfterInternalError(body, message.detail), []);
      const asked = new Set<string>();
      try {
        const runtime = runtimeFor(message.runtimeId, message.config);
        const context: AdmitContext = { production: message.production };
        if (message.states) context.registry = registryView(message.states, asked);
        if (message.final) context.final = true;
        return admitted(message.id, admit(body, runtime, context), [...asked]);
      } catch (err) {
        // The server logs it (the worker has no log of its own), as its safety net does on the event loop.
        const error = err instanceof Error ? err.message : String(err);
        return admitted(message.id, admitAfterInternalError(body, `internal error: ${error}`), [...asked], error);
      }
    }
    case 'close':
      sessions.delete(message.id);
      return undefined;
  }
}

parentPort!.on('message', (message: ToWorker) => {
  let reply: FromWorker | undefined;
  try {
    reply = handle(message);
  } catch (err) {
    reply = { t: 'failed', id: message.id, error: err instanceof Error ? err.message : String(err) };
  }
  if (reply) parentPort!.postMessage(reply);
});
// Loaded: the server sends nothing (no request bytes) before this.
parentPort!.postMessage({ t: 'ready', id: READY_ID } satisfies FromWorker);
