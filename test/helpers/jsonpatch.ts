/**
 * A small RFC 6902 applier written independently of fast-json-patch (which builds the patches), so tests check
 * patches the way the API server does: strictly, failing on a missing parent or a wrong index.
 */
type Json = unknown;

function decode(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function walk(doc: Json, path: string): { parent: Record<string, Json> | Json[]; key: string } {
  if (!path.startsWith('/')) throw new Error(`path must start with "/": ${path}`);
  const tokens = path.slice(1).split('/').map(decode);
  let cur: Json = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(t) || Number(t) >= cur.length) throw new Error(`no index ${t} at ${path}`);
      cur = cur[Number(t)];
    } else if (typeof cur === 'object' && cur !== null && t in cur) {
      cur = (cur as Record<string, Json>)[t];
    } else throw new Error(`missing ${t} in ${path}`);
  }
  if (typeof cur !== 'object' || cur === null) throw new Error(`parent of ${path} is not a container`);
  return { parent: cur as Record<string, Json> | Json[], key: tokens[tokens.length - 1]! };
}

export function applyPatchStrict(doc: Json, ops: Array<{ op: string; path: string; value?: Json }>): Json {
  const out = structuredClone(doc);
  for (const op of ops) {
    const { parent, key } = walk(out, op.path);
    if (op.op === 'replace') {
      if (Array.isArray(parent)) {
        if (Number(key) >= parent.length) throw new Error(`replace past the end: ${op.path}`);
        parent[Number(key)] = op.value;
      } else {
        if (!(key in parent)) throw new Error(`replace of a missing member: ${op.path}`);
        parent[key] = op.value;
      }
    } else if (op.op === 'add') {
      if (Array.isArray(parent)) parent.splice(key === '-' ? parent.length : Number(key), 0, op.value);
      else parent[key] = op.value;
    } else throw new Error(`unexpected op ${op.op} (the webhook only adds and replaces)`);
  }
  return out;
}
