import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { afterAll, describe, expect, it } from 'vitest';
import { esClientOptions } from '../../lib/connect.js';
import { detectCapabilities, LocalLifecycle, lifecycleSettings, runLocalLifecycle } from '../../pipeline/lifecycle.js';
import { skipUnless } from '../helpers/env.js';

// The local lifecycle against the real Elasticsearch (8.19 here, 9.x in the
// e2e-es9 project): rollover by size and by age, retention deletes exactly
// the expired generations and no document of the live ones. Own alias names,
// since other tests share the node.

const es = new Client(esClientOptions());
const alias = `connaudit-test-lc-${randomBytes(4).toString('hex')}`;
const day = 86_400_000;

async function count(): Promise<number> {
  await es.indices.refresh({ index: `${alias}-*` });
  return (await es.count({ index: alias })).count;
}

async function indexDocs(n: number, tag: string): Promise<void> {
  const operations = Array.from({ length: n }, (_, i) => [{ index: { _index: alias, _id: `${tag}-${i}` } }, { '@timestamp': new Date().toISOString(), tag, i }]).flat();
  const res = await es.bulk({ operations, refresh: true });
  expect(res.errors, JSON.stringify(res.items.find((x) => x.index?.error))).toBe(false);
}

async function generations(): Promise<string[]> {
  const res = await es.indices.get({ index: `${alias}-*` });
  return Object.keys(res).sort();
}

describe('index lifecycle on the local Elasticsearch (no ILM module)', () => {
  afterAll(async () => {
    await es.indices.delete({ index: `${alias}-*` }).catch(() => undefined);
    await es.close();
  });

  it('detects that the cluster has no ILM, so the pipeline must do the work', async (ctx) => {
    if (await skipUnless(ctx, 'elasticsearch')) return;
    expect((await detectCapabilities(es)).ilm).toBe(false);
  });

  it('leaves a young, small write index alone', async (ctx) => {
    if (await skipUnless(ctx, 'elasticsearch')) return;
    await es.indices.create({ index: `${alias}-000001`, aliases: { [alias]: { is_write_index: true } } });
    await indexDocs(20, 'g1');
    const r = await runLocalLifecycle(es, alias, lifecycleSettings({ max_age: '1d', max_primary_shard_size: '1gb', retention: '30d' }));
    expect(r).toEqual({ alias, deleted: [] });
    expect(await generations()).toEqual([`${alias}-000001`]);
  });

  it('rolls over by size: a new write index behind the alias, every document still readable through it', async (ctx) => {
    if (await skipUnless(ctx, 'elasticsearch')) return;
    // Refreshed segments of 20 docs exceed 1b; the condition is the server's own.
    const r = await runLocalLifecycle(es, alias, lifecycleSettings({ max_age: '1d', max_primary_shard_size: '1b', retention: '30d' }));
    expect(r.rolledOver).toMatchObject({ from: `${alias}-000001`, to: `${alias}-000002` });
    expect(r.deleted).toEqual([]);
    await indexDocs(30, 'g2');
    const w = await es.indices.getAlias({ name: alias });
    expect(w[`${alias}-000002`]?.aliases[alias]).toMatchObject({ is_write_index: true });
    expect(await count()).toBe(50);
  });

  it('rolls over by age', async (ctx) => {
    if (await skipUnless(ctx, 'elasticsearch')) return;
    await new Promise((res) => setTimeout(res, 1100));
    const r = await runLocalLifecycle(es, alias, lifecycleSettings({ max_age: '1s', max_primary_shard_size: '1gb', retention: '30d' }));
    expect(r.rolledOver).toMatchObject({ from: `${alias}-000002`, to: `${alias}-000003` });
    expect(await generations()).toEqual([`${alias}-000001`, `${alias}-000002`, `${alias}-000003`]);
    expect(await count()).toBe(50);
  });

  it('retention deletes only generations rolled over longer ago than the retention; 0 documents of the kept ones lost', async (ctx) => {
    if (await skipUnless(ctx, 'elasticsearch')) return;
    await indexDocs(5, 'g3');
    const keep = lifecycleSettings({ max_age: '1d', max_primary_shard_size: '1gb', retention: '30d' });
    // Now: nothing is 30 days past its rollover.
    expect((await runLocalLifecycle(es, alias, keep)).deleted).toEqual([]);
    expect(await count()).toBe(55);

    const created = await es.indices.get({ index: `${alias}-000003`, filter_path: ['*.settings.index.creation_date'] });
    const gen3Created = Number((created as Record<string, { settings: { index: { creation_date: string } } }>)[`${alias}-000003`]!.settings.index.creation_date);
    // 30 days after generation 3 was created, generation 2 (rolled then) has expired; generation 1 rolled
    // over ~1 s earlier and has too. The write index (3) stays whatever its age.
    const lc = new LocalLifecycle(es, [alias], keep);
    const [r] = await lc.runOnce(gen3Created + 30 * day + 1);
    expect(r!.deleted.sort()).toEqual([`${alias}-000001`, `${alias}-000002`]);
    expect(lc.counters).toEqual({ rollovers: 0, deleted: 2, failures: 0 });
    expect(await generations()).toEqual([`${alias}-000003`]);
    expect(await count()).toBe(5);
  });

  it('a failing pass is counted and does not throw (the next tick retries)', async (ctx) => {
    if (await skipUnless(ctx, 'elasticsearch')) return;
    const lc = new LocalLifecycle(es, [`${alias}-no-such-alias`], lifecycleSettings());
    expect(await lc.runOnce()).toEqual([]);
    expect(lc.counters.failures).toBe(1);
  });
});
