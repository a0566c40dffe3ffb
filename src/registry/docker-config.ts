/**
 * Registry credentials from `.dockerconfigjson` files (the content of `kubernetes.io/dockerconfigjson` Secrets, i.e.
 * imagePullSecrets), matched to an image the way the kubelet does (pkg/credentialprovider/keyring.go), so the
 * webhook checks a registry with the credentials the node would pull with:
 *
 * - Each key of `auths` may carry a scheme and a path: `https://registry.example:5000/team`. Only a leading
 *   `https://` or `http://` is dropped (the scheme plays no part in matching). A path starting with `/v1/` or
 *   `/v2/` loses that prefix (`https://index.docker.io/v1/` is the key for Docker Hub); a path of `/` is none.
 * - The image is looked up by its normalised name without tag/digest: `docker.io/library/nginx`,
 *   `registry.example:5000/team/app`.
 * - A key matches when (1) the ports are equal (none = none; 443 is not implied), (2) the hosts have the same number
 *   of dot-separated labels and each key label glob-matches the image label (Go's filepath.Match: `*`, `?`, `[...]`,
 *   `\` escapes; a `*` never spans a dot, so `*.example.com` matches `a.example.com` but not `a.b.example.com` nor
 *   `example.com`), and (3) the key's path is a plain string prefix of the image's path (`/team` also matches
 *   `/teamx/...`, as in the kubelet).
 * - Keys are tried in reverse lexicographic order (so `quay.io/team` before `quay.io`, and a literal label before
 *   `*` at the same position); all matches are returned in that order, every credential of a key in file order.
 *   The kubelet tries them in turn until a pull succeeds; the client does the same on 401.
 * - When nothing matched and the image is on Docker Hub, the credentials stored under `index.docker.io` (written as
 *   `https://index.docker.io/v1/` by `docker login`) are used.
 * - An entry's `auth` (base64 of `user:password`) wins over its `username`/`password` fields; an `auth` that does not
 *   decode to `user:password` makes the entry invalid (the kubelet refuses the whole file; we drop the entry and
 *   report it, so one bad entry does not hide the others).
 *
 * Several files (one per pull Secret) make one keyring; a key present in several files keeps all their credentials,
 * in the order the files were given. Problems are reported without any credential value.
 */

export const DOCKER_CONFIG_MAX_BYTES = 1024 * 1024;
export const DOCKER_CONFIG_MAX_ENTRIES = 1000;
export const DOCKER_CONFIG_MAX_KEY_LENGTH = 1024;

export interface RegistryCredential {
  username: string;
  password: string;
  /** Where it came from (`<source>: <key>`), for diagnostics: names no secret. */
  origin: string;
}

interface KeyringEntry {
  /** The kubelet's key: host[:port][path]. */
  key: string;
  hostLabels: string[];
  port: string;
  path: string;
  credentials: RegistryCredential[];
}

export interface Keyring {
  /** Reverse-sorted by key. */
  readonly entries: readonly KeyringEntry[];
}

export interface DockerConfigInput {
  /** A name for messages (a file path or Secret name). */
  source: string;
  text: string;
}

export interface KeyringResult {
  keyring: Keyring;
  /** One line per dropped entry or file; never a credential. */
  problems: string[];
}

const DEFAULT_REGISTRY_HOST = 'index.docker.io';

/** Builds a keyring from the content of one or more `.dockerconfigjson` (or legacy `.dockercfg`) files. */
export function buildKeyring(inputs: readonly DockerConfigInput[]): KeyringResult {
  const problems: string[] = [];
  const byKey = new Map<string, KeyringEntry>();
  let count = 0;
  for (const { source, text } of inputs) {
    if (text.length > DOCKER_CONFIG_MAX_BYTES) {
      problems.push(`${source}: file too large (${text.length} bytes; max ${DOCKER_CONFIG_MAX_BYTES})`);
      continue;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      // The parser's message can quote the file's content, which holds credentials: say only where.
      problems.push(`${source}: not valid JSON`);
      continue;
    }
    if (!isObject(doc)) {
      problems.push(`${source}: expected a JSON object`);
      continue;
    }
    // .dockerconfigjson has {"auths": {...}}; the legacy .dockercfg is the map itself.
    const auths = 'auths' in doc ? doc.auths : doc;
    if (!isObject(auths)) {
      problems.push(`${source}: "auths" must be an object`);
      continue;
    }
    for (const [rawKey, value] of Object.entries(auths)) {
      if (++count > DOCKER_CONFIG_MAX_ENTRIES) {
        problems.push(`${source}: more than ${DOCKER_CONFIG_MAX_ENTRIES} entries in all; the rest are ignored`);
        break;
      }
      const where = `${source}: ${printableKey(rawKey)}`;
      if (rawKey.length > DOCKER_CONFIG_MAX_KEY_LENGTH) {
        problems.push(`${source}: a key longer than ${DOCKER_CONFIG_MAX_KEY_LENGTH} characters is ignored`);
        continue;
      }
      const cred = readCredential(value, where);
      if (typeof cred === 'string') {
        problems.push(`${where}: ${cred}`);
        continue;
      }
      const parsed = parseKey(rawKey);
      let entry = byKey.get(parsed.key);
      if (!entry) {
        entry = { ...parsed, credentials: [] };
        byKey.set(parsed.key, entry);
      }
      entry.credentials.push(cred);
    }
  }
  // Go's sort.Reverse(sort.StringSlice): byte order, descending. JS string comparison is UTF-16 order, which
  // agrees with byte order for the ASCII that registry keys are made of.
  const entries = [...byKey.values()].sort((a, b) => (a.key < b.key ? 1 : a.key > b.key ? -1 : 0));
  return { keyring: { entries }, problems };
}

/**
 * Credentials for an image, best first. `image` is a normalised repository name without tag or digest
 * (`docker.io/library/nginx`), as the kubelet looks it up.
 */
export function lookupCredentials(keyring: Keyring, image: string): RegistryCredential[] {
  const target = parseKey(image);
  const out: RegistryCredential[] = [];
  for (const e of keyring.entries) {
    if (keyMatches(e, target)) out.push(...e.credentials);
  }
  if (out.length > 0 || !isDefaultRegistryMatch(image)) return out;
  const hub = keyring.entries.find((e) => e.key === DEFAULT_REGISTRY_HOST);
  return hub ? [...hub.credentials] : [];
}

/** The kubelet's isDefaultRegistryMatch: would this name pull from Docker Hub? */
export function isDefaultRegistryMatch(image: string): boolean {
  const slash = image.indexOf('/');
  const first = slash < 0 ? image : image.slice(0, slash);
  if (first === '') return false;
  if (slash < 0) return true;
  if (first === 'docker.io' || first === 'index.docker.io') return true;
  return !first.includes('.') && !first.includes(':');
}

function keyMatches(glob: Pick<KeyringEntry, 'hostLabels' | 'port' | 'path'>, target: Pick<KeyringEntry, 'hostLabels' | 'port' | 'path'>): boolean {
  if (glob.port !== target.port) return false;
  if (glob.hostLabels.length !== target.hostLabels.length) return false;
  if (!target.path.startsWith(glob.path)) return false;
  for (let k = 0; k < glob.hostLabels.length; k++) {
    if (!globMatch(glob.hostLabels[k]!, target.hostLabels[k]!)) return false;
  }
  return true;
}

/** Splits a key (or an image name) into the kubelet's host labels, port and path. */
export function parseKey(raw: string): { key: string; hostLabels: string[]; port: string; path: string } {
  let rest = raw;
  if (rest.startsWith('https://')) rest = rest.slice(8);
  else if (rest.startsWith('http://')) rest = rest.slice(7);
  // Go's url.Parse drops a query and fragment; userinfo before "@" is not part of the host.
  const cut = firstIndex(rest, '?#');
  if (cut >= 0) rest = rest.slice(0, cut);
  const slash = rest.indexOf('/');
  let hostPort = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? '' : rest.slice(slash);
  const at = hostPort.lastIndexOf('@');
  if (at >= 0) hostPort = hostPort.slice(at + 1);
  if (path.startsWith('/v1/') || path.startsWith('/v2/')) path = path.slice(3);
  if (path === '/') path = '';
  const { host, port } = splitHostPort(hostPort);
  return { key: hostPort + path, hostLabels: host.split('.'), port, path };
}

/** Go's net.SplitHostPort, falling back (as the kubelet does) to "whole string is the host, no port". */
function splitHostPort(hostPort: string): { host: string; port: string } {
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    if (end > 0 && hostPort.charCodeAt(end + 1) === 0x3a && !hostPort.includes(':', end + 2) && !hostPort.includes('[', 1)) {
      return { host: hostPort.slice(1, end), port: hostPort.slice(end + 2) };
    }
    return { host: hostPort, port: '' };
  }
  const colon = hostPort.indexOf(':');
  if (colon < 0 || hostPort.indexOf(':', colon + 1) >= 0) return { host: hostPort, port: '' };
  return { host: hostPort.slice(0, colon), port: hostPort.slice(colon + 1) };
}

/**
 * Go's filepath.Match on one host label (which holds no "/"): `*` any run, `?` one character, `[a-z]` / `[^a-z]`
 * classes, `\x` a literal. A malformed pattern matches nothing (Go returns an error, which the kubelet treats as no
 * match). Labels are short (keys are capped), and the star handling keeps only the last star, so the time is
 * O(pattern × label) at worst.
 */
export function globMatch(pattern: string, name: string): boolean {
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < name.length) {
    if (p < pattern.length) {
      const pc = pattern[p]!;
      if (pc === '*') {
        starP = ++p;
        starT = t;
        continue;
      }
      const step = matchOne(pattern, p, name[t]!);
      if (step === -2) return false; // malformed
      if (step > 0) {
        p += step;
        t++;
        continue;
      }
    }
    if (starP < 0) return false;
    p = starP;
    t = ++starT;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Pattern length consumed when pattern[p] matches c, 0 when it does not, -2 when the pattern is malformed. */
function matchOne(pattern: string, p: number, c: string): number {
  const pc = pattern[p]!;
  if (pc === '?') return 1;
  if (pc === '\\') {
    if (p + 1 >= pattern.length) return -2;
    return pattern[p + 1] === c ? 2 : 0;
  }
  if (pc !== '[') return pc === c ? 1 : 0;
  let i = p + 1;
  const negated = pattern[i] === '^';
  if (negated) i++;
  let matched = false;
  let first = true;
  for (;;) {
    if (i >= pattern.length) return -2;
    if (pattern[i] === ']' && !first) break;
    first = false;
    let lo = pattern[i]!;
    if (lo === '\\') {
      if (++i >= pattern.length) return -2;
      lo = pattern[i]!;
    }
    i++;
    let hi = lo;
    if (pattern[i] === '-' && pattern[i + 1] !== ']') {
      i++;
      if (i >= pattern.length) return -2;
      hi = pattern[i]!;
      if (hi === '\\') {
        if (++i >= pattern.length) return -2;
        hi = pattern[i]!;
      }
      i++;
    }
    if (lo <= c && c <= hi) matched = true;
  }
  return matched !== negated ? i + 1 - p : 0;
}

function readCredential(value: unknown, origin: string): RegistryCredential | string {
  if (!isObject(value)) return 'entry must be an object';
  if (typeof value.auth === 'string' && value.auth !== '') {
    const decoded = decodeBase64(value.auth);
    if (decoded === undefined) return '"auth" is not valid base64';
    const colon = decoded.indexOf(':');
    if (colon < 0) return '"auth" must be base64 of "username:password"';
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), origin };
  }
  const username = typeof value.username === 'string' ? value.username : '';
  const password = typeof value.password === 'string' ? value.password : '';
  if (username === '' && password === '') return 'no "auth" and no "username"/"password"';
  return { username, password, origin };
}

function decodeBase64(s: string): string | undefined {
  // Go's StdEncoding is strict: standard alphabet with padding.
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  return Buffer.from(s, 'base64').toString('utf8');
}

/** The key without any userinfo (`https://user:pass@host` must not reach a message), shortened. */
function printableKey(raw: string): string {
  const key = parseKey(raw).key;
  const short = key.length > 80 ? `${key.slice(0, 80)}…` : key;
  return JSON.stringify(short);
}

function firstIndex(s: string, chars: string): number {
  for (let i = 0; i < s.length; i++) if (chars.includes(s[i]!)) return i;
  return -1;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
