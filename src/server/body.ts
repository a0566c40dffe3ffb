/**
 * Reading an admission request's body, shared by the event loop (app.ts) and the admission worker
 * (admission-worker.ts), which must give the same answers: this module loads neither fastify nor anything else.
 */
import secureJson from 'secure-json-parse';

/** A namespace name is a DNS label: longer strings are not namespaces and select no install. */
export const NAMESPACE_MAX = 63;

/** fastify's own JSON parsing rules for this server: `__proto__` and `constructor` keys are dropped, not refused. */
const PARSE_OPTIONS = { protoAction: 'remove', constructorAction: 'remove' } as const;

/**
 * Whether a JSON text can hold a `__proto__` or `constructor` key: such a key written plainly, or a \u escape of one
 * of their letters (`\u005f` to `\u0075`: then secure-json-parse's own patterns decide). One pass over the body;
 * secure-json-parse makes two with patterns that try every escape at each quote (large review: 32 -> 20 µs).
 */
const MAY_HOLD_PROTOTYPE_KEY = /"(?:__proto__|constructor)"\s*:|\\u00[567]/;

/**
 * The body as fastify's JSON parser (with the options above) reads it, or why it is not JSON (jsonProblem): the one
 * reading of every path. A text that cannot hold a `__proto__` or `constructor` key is what secure-json-parse
 * would return after its own check finds none, JSON.parse's value (its leading byte-order mark dropped, as it
 * drops it); any other text goes through secure-json-parse itself.
 */
export function readJsonBody(text: string): { value: unknown } | { problem: string } {
  try {
    if (MAY_HOLD_PROTOTYPE_KEY.test(text)) return { value: secureJson.parse(text, undefined, PARSE_OPTIONS) };
    return { value: JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) };
  } catch {
    return { problem: jsonProblem(text) };
  }
}

/** The message that refuses a body that is not JSON, on every path. */
export const notJsonMessage = (problem: string): string => `request body is not valid JSON: ${problem}`;

/** The parser's reason without the slice of input V8 quotes (`Unexpected token 'x', "...body..." is not valid JSON`). */
export function jsonProblem(body: string): string {
  try {
    JSON.parse(body);
    return 'unsafe content';
  } catch (e) {
    const message = e instanceof Error ? e.message : '';
    const reason = message.split(', "')[0]!.split('"')[0]!.trim();
    return reason.length > 0 && reason.length <= 160 ? reason : 'syntax error';
  }
}

/**
 * request.namespace of an AdmissionReview, when it is a string that can be a namespace name; anything else
 * selects no install (the default install or the static config then serve). Read defensively: admit() reports
 * what is wrong with the body, this only picks the runtime.
 */
export function requestNamespace(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const request = (body as { request?: unknown }).request;
  if (typeof request !== 'object' || request === null) return undefined;
  const namespace = (request as { namespace?: unknown }).namespace;
  return typeof namespace === 'string' && namespace.length > 0 && namespace.length <= NAMESPACE_MAX ? namespace : undefined;
}
