/**
 * `discover`: what the webhook would adopt from the MLRun install(s) in a cluster, from which object and key, and
 * the resulting rules, so an operator can check before turning discovery on. Runs the same watcher as the server
 * until its first sync, prints, stops.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { readEnvOverrides } from '../config/load.js';
import { rulesForVersion } from '../mlrun/rules.js';
import { InstallWatcher, ALL_NAMESPACES, DEFAULT_CONTAINER, DEFAULT_DEPLOYMENT, DEFAULT_POD_SELECTOR, type DiscoveryStatus } from '../cluster/watch.js';
import { IMAGE_KEYS, type MlrunInstall } from '../cluster/types.js';
import { parseArgs, UsageError } from './args.js';
import type { Io } from './resolve.js';

const VALUE_OPTIONS = ['kubeconfig', 'namespace', 'deployment', 'container', 'selector', 'timeout'] as const;
const BOOLEAN_OPTIONS = ['json'] as const;
const DEFAULT_NAMESPACE = 'mlrun';

export const DISCOVER_USAGE = `Usage:
  mlrun-image-webhook discover [--kubeconfig F] [--namespace N[,N...]] [--deployment NAME] [--container NAME]
      [--selector LABELS] [--timeout SECONDS] [--json]

Reads the MLRun API (Deployment ${DEFAULT_DEPLOYMENT}, container ${DEFAULT_CONTAINER}, its Ready chief Pods
selected by ${DEFAULT_POD_SELECTOR}, and the ConfigMaps its container references) in each namespace (default
${DEFAULT_NAMESPACE}; "*" for every namespace that has one) and prints the MLRun version and image settings the webhook would adopt, where each came from,
and the resulting rules. Secrets are never read. The kubeconfig defaults to $KUBECONFIG, ~/.kube/config, or the
in-cluster service account. --timeout (default 30) bounds the wait for the first sync.
Exit codes: 0 an install was found, 1 none found, 2 usage, access or connection error.`;

const CONFIG_KEY: Record<(typeof IMAGE_KEYS)[number], string> = {
  MLRUN_IMAGES_REGISTRY: 'mlrun.imagesRegistry',
  MLRUN_IMAGES_TAG: 'mlrun.imagesTag',
  MLRUN_VENDOR_IMAGES_REGISTRY: 'mlrun.vendorImagesRegistry',
  MLRUN_IMAGES_TO_ENRICH_REGISTRY: 'mlrun.imagesToEnrichRegistry',
};

export async function runDiscover(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, VALUE_OPTIONS, BOOLEAN_OPTIONS);
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args.positionals[0])}`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`error: ${e.message}\n\n${DISCOVER_USAGE}\n`);
    return 2;
  }
  const v = (k: (typeof VALUE_OPTIONS)[number]) => args.values.get(k);
  const namespaces = (v('namespace') ?? DEFAULT_NAMESPACE).split(',').map((n) => n.trim()).filter((n) => n !== '');
  const timeoutS = Number(v('timeout') ?? '30');
  if (namespaces.length === 0 || !Number.isFinite(timeoutS) || timeoutS <= 0) {
    io.stderr.write(`error: ${namespaces.length === 0 ? '--namespace names no namespace' : '--timeout must be a positive number of seconds'}\n`);
    return 2;
  }

  const kc = new KubeConfig();
  try {
    const file = v('kubeconfig');
    if (file !== undefined) kc.loadFromFile(file);
    else kc.loadFromDefault();
    if (!kc.getCurrentCluster()) throw new Error('no current cluster in the kubeconfig');
  } catch (e) {
    io.stderr.write(`error: cannot load the kubeconfig: ${(e as Error).message}\n`);
    return 2;
  }

  const watcher = new InstallWatcher({
    kubeConfig: kc,
    namespaces,
    deploymentName: v('deployment'),
    containerName: v('container'),
    podSelector: v('selector'),
  });
  const status = await firstSync(watcher, timeoutS * 1000);
  const installs = watcher.current();
  watcher.stop();
  if (!status.synced) {
    const why = status.lastError ? `${status.lastError.object}: ${status.lastError.message}` : `no sync within ${timeoutS} s`;
    io.stderr.write(`error: discovery ${status.state === 'starting' ? 'timed out' : status.state}: ${why}\n`);
    return 2;
  }
  const all = namespaces.includes(ALL_NAMESPACES);
  const reports = all ? [...installs.keys()].sort().map((ns) => report(ns, installs.get(ns))) : namespaces.map((ns) => report(ns, installs.get(ns)));
  if (args.flags.has('json')) io.stdout.write(`${JSON.stringify({ installs: reports }, null, 2)}\n`);
  else io.stdout.write(reports.length > 0 ? reports.map(human).join('\n') : 'no MLRun API found in any namespace\n');
  return installs.size > 0 ? 0 : 1;
}

/** Resolves at the first sync, at the first failure state, or at the timeout. */
function firstSync(w: InstallWatcher, timeoutMs: number): Promise<DiscoveryStatus> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve(w.status());
    };
    const timer = setTimeout(done, timeoutMs);
    const poll = setInterval(() => {
      const s = w.status();
      if (s.synced || s.state === 'forbidden' || s.state === 'unreachable' || s.state === 'failing') done();
    }, 50);
    w.start();
  });
}

interface Report {
  namespace: string;
  found: boolean;
  install?: MlrunInstall;
  /** The settings as the config layer reads them (MLRun's json.loads), by config key. */
  config?: Record<string, { value: string; source: string }>;
  refused?: { key: string; source: string; reason: string }[];
  rules?: string;
  defaultEnrichPatterns?: string;
  notes?: string[];
}

function report(namespace: string, install: MlrunInstall | undefined): Report {
  if (!install) return { namespace, found: false };
  const raw: Record<string, string> = {};
  for (const [k, e] of Object.entries(install.env)) raw[k] = e.value;
  const overrides = readEnvOverrides(raw);
  const config: Report['config'] = {};
  if (install.serverVersion !== undefined) config['mlrun.version'] = { value: install.serverVersion, source: install.serverVersionSource };
  for (const key of IMAGE_KEYS) {
    const value = overrides.config.mlrun?.[CONFIG_KEY[key].slice('mlrun.'.length) as 'imagesTag'];
    if (value !== undefined) config[CONFIG_KEY[key]] = { value, source: install.env[key]!.source };
  }
  const refused = overrides.problems.map((p) => {
    const name = p.key.replace(/^env /, '') as (typeof IMAGE_KEYS)[number];
    return { key: CONFIG_KEY[name] ?? p.key, source: install.env[name]?.source ?? p.key, reason: p.reason };
  });
  const out: Report = { namespace, found: true, install, config, refused, notes: overrides.notes };
  if (install.serverVersion !== undefined) {
    const r = rulesForVersion(install.serverVersion);
    if (r.ok) {
      out.rules = r.rules.label;
      out.defaultEnrichPatterns = r.rules.defaultEnrichPatterns;
      if (r.note) out.notes!.push(r.note);
    } else refused.push({ key: 'mlrun.version', source: install.serverVersionSource, reason: r.reason });
  }
  return out;
}

function human(r: Report): string {
  if (!r.found || !r.install) return `namespace ${r.namespace}: no MLRun API found\n`;
  const i = r.install;
  const lines = [`namespace ${r.namespace}: MLRun ${i.serverVersion ?? '(unknown version)'}, following ${i.followed}`];
  if (r.rules) lines.push(`  rules: ${r.rules}`);
  const row = (key: string, value: string, from: string) => lines.push(`  ${key.padEnd(29)} ${value.padEnd(34)} from ${from}`);
  for (const [key, e] of Object.entries(r.config ?? {})) row(key, JSON.stringify(e.value), e.source);
  for (const key of IMAGE_KEYS) {
    if (r.config?.[CONFIG_KEY[key]] || r.refused?.some((x) => x.key === CONFIG_KEY[key])) continue;
    if (i.notFollowed.some((n) => n.key === key)) continue;
    const dflt = key === 'MLRUN_IMAGES_TO_ENRICH_REGISTRY' && r.defaultEnrichPatterns !== undefined ? ` ${JSON.stringify(r.defaultEnrichPatterns)}` : '';
    lines.push(`  ${CONFIG_KEY[key].padEnd(29)} not set by the MLRun API: MLRun's default${dflt}`);
  }
  for (const x of r.refused ?? []) lines.push(`  refused ${x.key} (${x.source}): ${x.reason}`);
  for (const n of i.notFollowed) {
    const otherwise = n.otherwise ? ` (otherwise ${JSON.stringify(n.otherwise.value)} from ${n.otherwise.source})` : '';
    lines.push(`  not followed ${n.key}: ${n.source}: ${n.reason}; the static config's value stays${otherwise}`);
  }
  for (const p of i.pending) {
    const since = p.sinceMs !== undefined ? `, seen ${new Date(p.sinceMs).toISOString()}` : '';
    lines.push(`  pending ${p.key}: ${JSON.stringify(p.current ?? null)} -> ${JSON.stringify(p.next ?? null)} (${p.source}${since}; MLRun applies it when its API Pod restarts)`);
  }
  for (const p of i.problems) lines.push(`  problem: ${p}`);
  for (const n of r.notes ?? []) lines.push(`  note: ${n}`);
  if (i.configMapsAsFound) {
    lines.push('  note: ConfigMaps taken as found: an edit made after the MLRun API Pod started cannot be told apart until it restarts');
  }
  return `${lines.join('\n')}\n`;
}
