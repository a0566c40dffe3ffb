/**
 * `mutate POD.yaml|json`: runs a Pod (or an AdmissionReview) through the same admission code as the webhook and
 * prints the decisions, the JSON patch and the mutated Pod, so rules can be tried without a cluster.
 */
import { readFileSync } from 'node:fs';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import { parseAllDocuments, stringify } from 'yaml';
import { admit } from '../admission/admit.js';
import { podCreateReview } from '../admission/review.js';
import { loadConfig } from '../config/load.js';
import type { Runtime } from '../config/runtime.js';
import type { Io } from './resolve.js';
import { parseArgs, UsageError, usageFailure, configRefused } from './args.js';
import { isJsonObject as isObj, type JsonObject as Obj } from '../util/json.js';

export const MUTATE_USAGE = `Usage:
  mlrun-image-webhook mutate FILE [--config F] [--namespace-policy production] [--json]

FILE holds one or more Pods (YAML or JSON, "-" for stdin) or AdmissionReview bodies. Without --config the
embedded default config is used; MLRUN_* environment variables override it, as in the server.
--namespace-policy production: as the webhook's production entry (/mutate/production) answers, with the config's
policy section (pinTags, pinDigests, allow); each container's verdict is shown. A Pod in a namespace listed in
policy.namespaces gets the policy without it. Digests are not resolved here (no registry is asked).
Workloads (Deployment, Job, CronJob...) and whole manifests: use "mlrun-image-webhook render".
Exit codes: 0 done, 1 a document could not be processed (not YAML/JSON, or not a Pod) or the policy denied it,
2 usage or config error.`;

export async function runMutate(argv: string[], io: Io): Promise<number> {
  let args;
  try {
    args = parseArgs(argv, ['config', 'namespace-policy'], ['json']);
  } catch (e) {
    if (e instanceof UsageError) return usage(io, e.message);
    throw e;
  }
  if (args.positionals.length !== 1) return usage(io, 'give exactly one FILE');
  const policy = args.values.get('namespace-policy');
  if (policy !== undefined && policy !== 'production') return usage(io, `--namespace-policy must be production, got ${JSON.stringify(policy)}`);
  const loaded = loadConfig({ file: args.values.get('config'), env: process.env });
  if (!loaded.ok) {
    return configRefused(io, loaded);
  }
  const file = args.positionals[0]!;
  let text: string;
  try {
    text = file === '-' ? await readStream(io.stdin) : readFileSync(file, 'utf8');
  } catch (e) {
    return usage(io, `cannot read ${file}: ${(e as Error).message}`);
  }
  const docs = parseAllDocuments(text);
  const results: Obj[] = [];
  let failed = false;
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      failed = true;
      results.push({ document: i, error: `not YAML/JSON: ${doc.errors[0]!.message}` });
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    const r = mutateOne(value, loaded.runtime, policy === 'production');
    if ('error' in r || r.outcome === 'denied') failed = true;
    results.push({ document: i, ...r });
  });
  if (args.flags.has('json')) {
    io.stdout.write(JSON.stringify(results.length === 1 ? results[0] : results, null, 2) + '\n');
  } else {
    for (const r of results) {
      if (typeof r.error === 'string') io.stderr.write(`error: document ${String(r.document)}: ${r.error}\n`);
      else io.stdout.write(human(r));
    }
  }
  return failed ? 1 : 0;
}

export function mutateOne(value: unknown, runtime: Runtime, production = false): Obj {
  // A Deployment read as a Pod would come back "unchanged", as if its images were never rewritten: say what to use.
  if (isObj(value) && typeof value.kind === 'string' && value.kind !== 'Pod' && value.kind !== 'AdmissionReview') {
    return { error: `not a Pod (kind ${value.kind}): use \`mlrun-image-webhook render\` for workloads and other manifests` };
  }
  const review: Obj = isObj(value) && value.kind === 'AdmissionReview' ? value : podCreateReview(value);
  const result = admit(review, runtime, { production });
  if (result.status !== 200) return { error: result.error };
  const { response } = result.body;
  const patch: Operation[] = response.patch ? JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) : [];
  const request = review.request as Obj;
  const pod = patch.length > 0 ? jsonpatch.applyPatch(structuredClone(request.object), patch, true, false).newDocument : request.object;
  return {
    outcome: result.summary.outcome,
    ...(result.summary.detail ? { detail: result.summary.detail } : {}),
    clientVersion: result.summary.clientVersion,
    clientPythonVersion: result.summary.clientPythonVersion,
    decisions: result.summary.decisions.map((d) => ({
      container: `${d.kind}/${d.name}`,
      from: d.original,
      to: d.image,
      changed: d.changed,
      reasons: d.reasons,
    })),
    ...(result.summary.policyMode !== 'off' ? { policyMode: result.summary.policyMode, policy: result.summary.policy } : {}),
    ...(response.status ? { denied: response.status.message } : {}),
    warnings: response.warnings ?? [],
    patch,
    pod,
  };
}

function human(r: Obj): string {
  const lines = [`# outcome: ${String(r.outcome)}${r.detail ? ` (${String(r.detail)})` : ''}`];
  lines.push(`# client version: ${String(r.clientVersion ?? '-')}, python: ${String(r.clientPythonVersion ?? '-')}`);
  for (const d of r.decisions as Obj[]) {
    const arrow = d.changed ? `${String(d.from)} -> ${String(d.to)}` : `${String(d.from)} (unchanged)`;
    lines.push(`# ${String(d.container)}: ${arrow}`, ...(d.reasons as string[]).map((x) => `#     ${x}`));
  }
  if (r.policy) {
    lines.push(`# production policy (${String(r.policyMode)}):`);
    for (const p of r.policy as Obj[]) {
      const to = p.suggestion !== undefined ? ` (use ${String(p.suggestion)})` : '';
      lines.push(`#   ${String(p.container)}: ${String(p.policy)} ${String(p.verdict)} -> ${String(p.action)}${p.policy === 'pin-tags' ? to : ''}`);
    }
  }
  if (r.denied) lines.push(`# denied: ${String(r.denied)}`);
  for (const w of r.warnings as string[]) lines.push(`# warning: ${w}`);
  lines.push('# patch:', ...JSON.stringify(r.patch, null, 2).split('\n').map((l) => `#   ${l}`));
  return `${lines.join('\n')}\n---\n${stringify(r.pod)}`;
}

function usage(io: Io, message: string): number {
  return usageFailure(io, MUTATE_USAGE, message);
}

async function readStream(s: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
