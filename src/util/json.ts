/** Narrowing for parsed JSON/YAML, which arrives as `unknown`: every layer reads untrusted input through these. */

export type JsonObject = Record<string, unknown>;

/** A mapping (not null, not a list). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
