/**
 * The serving certificate: loaded from files, reloaded in process when they change, or generated for local runs.
 *
 * Reload uses tls.Server#setSecureContext(): new handshakes get the new pair, open connections keep theirs, so a
 * rotation (cert-manager, a re-issued Secret) needs no restart and drops no request. A new pair that cannot be read
 * or does not match is refused and the old one keeps serving; the webhook must not go dark because of a bad Secret.
 *
 * Validity: a pair that is expired or not yet valid is refused on reload like a broken one (every handshake with it
 * would fail), counted in tls_certificate_refusals_total{reason}. A not-yet-valid pair gets no further file event
 * when its notBefore passes, so a timer looks again then and adopts it. At start such a pair is served anyway, with
 * an error line, the refusal counted and readiness 503 until a valid pair is in place (see validityProblem()): not
 * starting would crash-loop the Pod (restarts back off to 5 minutes, delaying recovery once a good Secret arrives),
 * while a running, not-ready replica keeps watching the files, adopts a renewed pair within seconds, and being out
 * of the Service's endpoints never receives a call it would fail, nor lets a rollout replace good replicas.
 */
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { errorFields } from '../telemetry/logger.js';
import { DirWatch } from '../util/dir-watch.js';
import type { Metrics, TlsRefusalReason } from '../telemetry/metrics.js';

/** Settings every secure context gets, at start and on each reload (setSecureContext replaces them all). */
export const TLS_BASE_OPTIONS = {
  // kube-apiserver speaks TLS 1.2 and 1.3; nothing older is worth accepting.
  minVersion: 'TLSv1.2',
} as const satisfies tls.SecureContextOptions;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  /** The leaf certificate's notBefore and notAfter. */
  notBefore: Date;
  notAfter: Date;
  subject: string;
  fingerprint256: string;
  /** sha256 over cert and key bytes: tells a real change from a touch. */
  digest: string;
}

/** Reads and checks a pair. Throws an Error whose message says what is wrong (never the key). */
export async function loadTlsPair(files: TlsFiles): Promise<TlsPair> {
  // allSettled, not all: when both reads fail, report the certificate's problem first, every time.
  const [cert, key] = await Promise.allSettled([readFile(files.certFile), readFile(files.keyFile)]);
  if (cert.status === 'rejected') throw new Error(`cannot read certificate ${files.certFile}: ${errorFields(cert.reason).message}`);
  if (key.status === 'rejected') throw new Error(`cannot read private key ${files.keyFile}: ${errorFields(key.reason).message}`);
  return checkTlsPair(cert.value, key.value);
}

export function checkTlsPair(cert: Buffer, key: Buffer): TlsPair {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new Error(`certificate is not a valid PEM/DER X.509 certificate: ${errorFields(err).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new Error(`private key cannot be parsed: ${errorFields(err).message}`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new Error('private key does not match the certificate');
  try {
    // What setSecureContext will do; catches what the checks above cannot (e.g. a broken chain entry).
    tls.createSecureContext({ ...TLS_BASE_OPTIONS, cert, key });
  } catch (err) {
    throw new Error(`certificate and key are not usable for TLS: ${errorFields(err).message}`);
  }
  const notAfter = new Date(x509.validTo);
  const notBefore = new Date(x509.validFrom);
  return {
    cert,
    key,
    notBefore,
    notAfter,
    subject: x509.subject.replace(/\n/g, ', '),
    fingerprint256: x509.fingerprint256,
    digest: digestOf(cert, key),
  };
}

/** Why a pair cannot serve at `now` (handshakes would fail), or undefined. */
export function validityProblem(pair: Pick<TlsPair, 'notBefore' | 'notAfter'>, now = Date.now()): { reason: 'expired' | 'not_yet_valid'; message: string } | undefined {
  if (now >= pair.notAfter.getTime()) return { reason: 'expired', message: `certificate expired at ${pair.notAfter.toISOString()}` };
  if (now < pair.notBefore.getTime()) return { reason: 'not_yet_valid', message: `certificate is not valid before ${pair.notBefore.toISOString()}` };
  return undefined;
}

/** Longest wait for a not-yet-valid pair's timer (setTimeout takes at most ~24.8 days); it re-arms if still early. */
const MAX_NOT_BEFORE_WAIT_MS = 6 * 3600 * 1000;

function digestOf(cert: Buffer, key: Buffer): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex');
}

export interface TlsReloaderOptions extends TlsFiles {
  logger: Logger;
  metrics?: Metrics;
  /** Fallback check interval (fs.watch misses events on some volumes). Default 10 s. */
  pollIntervalMs?: number;
  /** Cert and key change in two writes (or one symlink swap); wait for both. Default 300 ms. */
  debounceMs?: number;
  /** Extra wait after a refused pair's notBefore before looking again (clock granularity). Default 1 s. */
  notBeforeMarginMs?: number;
}

export type TlsReloadResult = { changed: true; pair: TlsPair } | { changed: false; reason?: string };

/**
 * Keeps one or more TLS servers on the current pair of certFile/keyFile.
 *
 * Kubernetes Secret volumes update by writing a new timestamped directory and swapping the `..data` symlink, so
 * the files' own inodes never see a write: we watch the directories (which see the swap) and compare contents,
 * with a poll as fallback.
 */
export class TlsReloader {
  private pair: TlsPair;
  private readonly servers = new Set<tls.Server>();
  private readonly dirWatch: DirWatch;
  private running: Promise<TlsReloadResult> | undefined;
  private again = false;
  /** Digest of the last refused pair: a bad Secret is reported once, not on every poll. */
  private refusedDigest: string | undefined;
  /** A bad pair seen once, waiting for a second look (see refuse()). */
  private pendingBad: string | undefined;
  private stopped = false;
  /** Looks again at a refused not-yet-valid pair once its notBefore has passed. */
  private notBeforeTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly options: TlsReloaderOptions,
    initial: TlsPair,
  ) {
    this.pair = initial;
    this.dirWatch = new DirWatch({
      dirs: [path.dirname(options.certFile), path.dirname(options.keyFile)],
      // The poll reads both files: certificate rotations are rare and the files small.
      pollIntervalMs: options.pollIntervalMs ?? 10_000,
      debounceMs: options.debounceMs ?? 300,
      check: () => void this.reload(),
      warn: (message) => options.logger.warn({ certFile: options.certFile, keyFile: options.keyFile }, `certificate watcher: ${message}`),
    });
  }

  /** Loads the initial pair; throws (with the reason) if it is unusable: nothing to serve with. */
  static async create(options: TlsReloaderOptions): Promise<TlsReloader> {
    const pair = await loadTlsPair(options);
    const reloader = new TlsReloader(options, pair);
    options.metrics?.setCertificateValidity(pair.notBefore, pair.notAfter);
    const fields = {
      certFile: options.certFile,
      keyFile: options.keyFile,
      subject: pair.subject,
      notBefore: pair.notBefore.toISOString(),
      notAfter: pair.notAfter.toISOString(),
    };
    const problem = validityProblem(pair);
    if (problem) {
      options.metrics?.recordTlsRefusal(problem.reason);
      options.logger.error(
        { ...fields, reason: problem.message },
        'serving certificate is not valid now: every TLS handshake will fail; serving it but NOT READY until a valid pair is written',
      );
    } else {
      options.logger.info(fields, 'serving certificate loaded');
    }
    return reloader;
  }

  current(): TlsPair {
    return this.pair;
  }

  /** Why the pair serving now fails handshakes (expired, not yet valid), for readiness; undefined when valid. */
  validityProblem(now = Date.now()): string | undefined {
    return validityProblem(this.pair, now)?.message;
  }

  /** Options for creating a server with the current pair. */
  serverOptions(): tls.SecureContextOptions {
    return { ...TLS_BASE_OPTIONS, cert: this.pair.cert, key: this.pair.key };
  }

  attach(server: tls.Server): void {
    this.servers.add(server);
  }

  detach(server: tls.Server): void {
    this.servers.delete(server);
  }

  start(): void {
    this.dirWatch.start();
  }

  stop(): void {
    this.stopped = true;
    this.dirWatch.stop();
    clearTimeout(this.notBeforeTimer);
  }

  /** Reads the files and switches if they hold a new, good pair. Serialised: overlapping calls coalesce. */
  reload(): Promise<TlsReloadResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.doReload().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.reload();
      }
    });
    return this.running;
  }

  private async doReload(): Promise<TlsReloadResult> {
    const { certFile, keyFile, logger, metrics } = this.options;
    const [certRead, keyRead] = await Promise.allSettled([readFile(certFile), readFile(keyFile)]);
    if (certRead.status === 'rejected' || keyRead.status === 'rejected') {
      // Mid-swap, or the Secret is gone: keep serving, report once per distinct problem.
      const reason =
        certRead.status === 'rejected'
          ? `cannot read certificate ${certFile}: ${errorFields(certRead.reason).message}`
          : `cannot read private key ${keyFile}: ${errorFields((keyRead as PromiseRejectedResult).reason).message}`;
      return this.refuse(reason, `unreadable:${reason}`);
    }
    const cert = certRead.value;
    const key = keyRead.value;
    const digest = digestOf(cert, key);
    if (digest === this.pair.digest) {
      this.refusedDigest = this.pendingBad = undefined;
      return { changed: false };
    }
    if (digest === this.refusedDigest) return { changed: false, reason: 'same refused pair' };
    let pair: TlsPair;
    try {
      pair = checkTlsPair(cert, key);
    } catch (err) {
      return this.refuse(errorFields(err).message, digest);
    }
    const problem = validityProblem(pair);
    if (problem) {
      if (problem.reason === 'not_yet_valid') this.recheckAt(pair.notBefore, digest);
      return this.refuse(problem.message, digest, problem.reason);
    }
    for (const server of this.servers) {
      try {
        server.setSecureContext({ ...TLS_BASE_OPTIONS, cert: pair.cert, key: pair.key });
      } catch (err) {
        // Checked above, so unexpected; the servers that took the new pair keep it (the old one is still valid).
        return this.refuse(`setSecureContext failed: ${errorFields(err).message}`, digest);
      }
    }
    const previous = this.pair;
    this.pair = pair;
    this.refusedDigest = this.pendingBad = undefined;
    clearTimeout(this.notBeforeTimer);
    this.notBeforeTimer = undefined;
    metrics?.recordTlsReload(true);
    metrics?.setCertificateValidity(pair.notBefore, pair.notAfter);
    logger.info(
      {
        certFile,
        subject: pair.subject,
        notBefore: pair.notBefore.toISOString(),
        notAfter: pair.notAfter.toISOString(),
        fingerprint256: pair.fingerprint256,
        previousFingerprint256: previous.fingerprint256,
      },
      'serving certificate reloaded',
    );
    return { changed: true, pair };
  }

  /**
   * A bad pair is reported only once it is seen twice in a row, one debounce apart: a writer that replaces the
   * two files one after the other passes through "new cert, old key" for a moment, which is not a failure.
   */
  /** No file event will come when notBefore passes: look again then (the same bytes are otherwise skipped). */
  private recheckAt(notBefore: Date, digest: string): void {
    clearTimeout(this.notBeforeTimer);
    const wait = Math.min(Math.max(0, notBefore.getTime() - Date.now()) + (this.options.notBeforeMarginMs ?? 1_000), MAX_NOT_BEFORE_WAIT_MS);
    this.notBeforeTimer = setTimeout(() => {
      this.notBeforeTimer = undefined;
      if (this.stopped) return;
      if (this.refusedDigest === digest) this.refusedDigest = undefined;
      if (this.pendingBad === digest) this.pendingBad = undefined;
      void this.reload();
    }, wait);
    this.notBeforeTimer.unref();
  }

  private refuse(reason: string, refusedKey: string, label: TlsRefusalReason = 'invalid'): TlsReloadResult {
    if (this.refusedDigest === refusedKey) return { changed: false, reason };
    if (this.pendingBad !== refusedKey) {
      this.pendingBad = refusedKey;
      this.dirWatch.schedule();
      return { changed: false, reason: `${reason} (checking again before refusing)` };
    }
    this.pendingBad = undefined;
    this.refusedDigest = refusedKey;
    this.options.metrics?.recordTlsReload(false);
    this.options.metrics?.recordTlsRefusal(label);
    this.options.logger.warn(
      { certFile: this.options.certFile, keyFile: this.options.keyFile, reason, serving: this.pair.fingerprint256 },
      'new serving certificate refused; the previous one keeps serving',
    );
    return { changed: false, reason };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Development certificates

export interface DevCertificates extends TlsFiles {
  caFile: string;
  dir: string;
  reused: boolean;
}

export const DEV_CERT_DIR = path.join(os.tmpdir(), 'mlrun-image-webhook-dev-certs');
const DEV_NAMES = { ca: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;
// Regenerate well before expiry so a long local session does not run into it.
const MIN_REMAINING_MS = 7 * 24 * 3600 * 1000;

/**
 * A CA and a serving certificate for localhost, 127.0.0.1 and ::1, for local runs without --tls-cert/--tls-key.
 * Reused while valid (so a `curl --cacert` command keeps working across restarts); written to a fresh directory
 * and renamed into place, so concurrent starts (parallel tests) never see a half-written set.
 */
export async function ensureDevCertificates(dir: string = DEV_CERT_DIR): Promise<DevCertificates> {
  const existing = await checkDevDir(dir);
  if (existing) return existing;
  const parent = path.dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(`${dir}.tmp-`);
  try {
    await writeDevCertificates(tmp);
    try {
      await rename(tmp, dir);
    } catch {
      // Another process got there first (dir not empty), or an old invalid set is in the way.
      const winner = await checkDevDir(dir);
      if (winner) {
        await rm(tmp, { recursive: true, force: true });
        return winner;
      }
      const aside = `${dir}.old-${process.pid}-${Date.now()}`;
      await rename(dir, aside).catch(() => undefined);
      await rm(aside, { recursive: true, force: true }).catch(() => undefined);
      try {
        await rename(tmp, dir);
      } catch {
        // Still contended: serve from our own directory.
        const own = await checkDevDir(tmp);
        if (own) return own;
        throw new Error(`cannot set up development certificates in ${dir}`);
      }
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  const made = await checkDevDir(dir);
  if (!made) throw new Error(`development certificates in ${dir} are not usable after generation`);
  return { ...made, reused: false };
}

async function checkDevDir(dir: string): Promise<DevCertificates | undefined> {
  try {
    const st = await stat(dir);
    // Only a directory of ours that others cannot write into (it lives in a shared /tmp).
    if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid()) || (st.mode & 0o022) !== 0) return undefined;
    const files = {
      caFile: path.join(dir, DEV_NAMES.ca),
      certFile: path.join(dir, DEV_NAMES.cert),
      keyFile: path.join(dir, DEV_NAMES.key),
    };
    const [caPem, pair] = await Promise.all([readFile(files.caFile), loadTlsPair(files)]);
    const ca = new X509Certificate(caPem);
    const leaf = new X509Certificate(pair.cert);
    if (!leaf.verify(ca.publicKey)) return undefined;
    if (pair.notAfter.getTime() - Date.now() < MIN_REMAINING_MS) return undefined;
    if (new Date(leaf.validFrom).getTime() > Date.now()) return undefined;
    if (!leaf.checkHost('localhost') || !leaf.checkIP('127.0.0.1') || !leaf.checkIP('::1')) return undefined;
    return { ...files, dir, reused: true };
  } catch {
    return undefined;
  }
}

export interface GeneratedPair {
  cert: string;
  key: string;
}

/** A CA for local runs and tests, valid one year. EC P-256: generated in milliseconds, unlike RSA. */
export async function generateDevCa(commonName = 'mlrun-image-webhook development CA'): Promise<GeneratedPair> {
  // Loaded here, not at start: selfsigned and its x509/asn1 chain hold ~2.4 MiB of heap, and a deployment with
  // its own certificate (the chart) never makes one.
  const { generate } = await import('selfsigned');
  const notBeforeDate = new Date(Date.now() - 60_000); // tolerate small clock differences
  const ca = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + 365 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: ca.cert, key: ca.private };
}

/** A serving certificate for localhost/127.0.0.1/::1 (plus extra DNS names), signed by ca. */
export async function generateServingCert(
  ca: GeneratedPair,
  options: { commonName?: string; dnsNames?: string[]; validDays?: number; notBefore?: Date; notAfter?: Date } = {},
): Promise<GeneratedPair> {
  const { generate } = await import('selfsigned');
  const notBeforeDate = options.notBefore ?? new Date(Date.now() - 60_000);
  const dnsNames = ['localhost', ...(options.dnsNames ?? [])];
  const leaf = await generate([{ name: 'commonName', value: options.commonName ?? 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: options.notAfter ?? new Date(notBeforeDate.getTime() + (options.validDays ?? 90) * 24 * 3600 * 1000),
    ca: { cert: ca.cert, key: ca.key },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...dnsNames.map((value) => ({ type: 2 as const, value })),
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { cert: leaf.cert, key: leaf.private };
}

async function writeDevCertificates(dir: string): Promise<void> {
  const ca = await generateDevCa();
  // A day short of the CA, so the leaf never outlives its issuer.
  const leaf = await generateServingCert(ca, { validDays: 364 });
  await Promise.all([
    writeFile(path.join(dir, DEV_NAMES.ca), ca.cert, { mode: 0o644 }),
    writeFile(path.join(dir, DEV_NAMES.caKey), ca.key, { mode: 0o600 }),
    writeFile(path.join(dir, DEV_NAMES.cert), leaf.cert, { mode: 0o644 }),
    writeFile(path.join(dir, DEV_NAMES.key), leaf.key, { mode: 0o600 }),
  ]);
}
