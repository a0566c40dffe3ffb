/**
 * Relist on 410 Gone: with watches served straight from etcd (--watch-cache=false), etcd is compacted past the
 * watcher's resourceVersion while the API server is away; the resumed watch gets 410 and the informer relists,
 * so a change made after the API server came back is still seen.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InstallWatcher } from '../../src/cluster/watch.js';
import { envtestSkipReason, startControlPlane, until, type ControlPlane } from '../helpers/envtest.js';
import { chief, Cluster, fixture, withChiefContainer } from './objects.js';

const skip = envtestSkipReason();
if (skip) console.log(`test/cluster/relist.test.ts skipped: ${skip}`);

async function etcd(cp: ControlPlane, path: string, body: unknown): Promise<{ header: { revision: string } }> {
  const r = await fetch(`${cp.etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`etcd ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as { header: { revision: string } };
}

describe.skipIf(skip !== undefined)('relist after 410 Gone', () => {
  let cp: ControlPlane;
  let w: InstallWatcher | undefined;
  beforeAll(async () => {
    cp = await startControlPlane({ apiServerArgs: ['--watch-cache=false'] });
  });
  afterAll(async () => {
    w?.stop();
    await cp?.stop();
  });

  it('a watch resumed from a compacted resourceVersion relists and loses nothing', async () => {
    const objs = fixture('ce-default.yaml', 'relist');
    await new Cluster(cp.admin()).apply(objs);
    w = new InstallWatcher({ kubeConfig: cp.admin(), namespaces: ['relist'], backoff: { initialMs: 100, maxMs: 1000 } });
    w.start();
    await until('synced', () => w!.status().synced && w!.current().has('relist'));
    const listsBefore = w.status().counts.lists;

    await cp.stopApiServer();
    await until('unreachable', () => w!.status().state === 'unreachable', 120_000);
    // Move etcd past every resourceVersion the watcher holds, then compact them away.
    const key = Buffer.from('/test/bump').toString('base64');
    for (let i = 0; i < 3; i++) await etcd(cp, '/v3/kv/put', { key, value: Buffer.from(String(i)).toString('base64') });
    const { header } = await etcd(cp, '/v3/kv/range', { key });
    await etcd(cp, '/v3/kv/compaction', { revision: header.revision, physical: true });

    await cp.startApiServer();
    await new Cluster(cp.admin()).apply([withChiefContainer(chief(objs), (c) => (c.image = 'quay.io/mlrun/mlrun-api:1.10.0'))]);
    await until('the upgrade', () => w!.current().get('relist')?.serverVersion === '1.10.0');
    await until('ok', () => w!.status().state === 'ok' && w!.status().synced);
    expect(w.status().counts.lists).toBeGreaterThan(listsBefore);
  });
});
