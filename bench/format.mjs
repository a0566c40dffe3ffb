// Number formats of the bench's reports: pure, shared by lib.mjs (and the scripts that use it) and goals.mjs.

/** A figure with `d` decimals, or '-' when there is none. */
export const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');

/** +12 / −3: a signed difference. */
export const signed = (n, d = 0) => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${Math.abs(n).toFixed(d)}` : '-');
