import { Client } from '@elastic/elasticsearch';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import { esClientOptions } from '../../lib/connect.js';
import { bootstrapElasticsearch } from '../../pipeline/es-bootstrap.js';
import { loadCatalogue } from '../../pipeline/slo/catalogue.js';
import { createSloStage } from '../../pipeline/slo/index.js';
import { buildReport } from '../../pipeline/slo/report/model.js';
import { fetchFromElasticsearch } from '../../pipeline/slo/report/sources.js';
import { generateStorm } from '../../tools/gen/slo-storm.js';
import { createSloSummaryJob } from '../../pipeline/slo/summary.js';
import { skipUnless } from '../helpers/env.js';

// The SLO stage's output against a real Elasticsearch with the real
// templates: slo.* is accepted by the strict mappings, analysts can
// aggregate on it, the hourly summary job writes connaudit-slo documents on
// its cron, and the report reads the same attribution back with search_after.
// Indices are per run (matching the templates' patterns, outside the write
// aliases), so other tests' counts are untouched.

const run = `slotest-${process.pid}`;
const IDX = { connections: `connaudit-connections-${run}`, alerts: `connaudit-alerts-${run}`, slo: `connaudit-slo-${run}` };
const es = new Client(esClientOptions());

afterAll(async () => {
  await es.indices.delete({ index: Object.values(IDX), ignore_unavailable: true }).catch(() => undefined);
  await es.close();
});

async function bulk(index: string, docs: Array<{ id: string; doc: object }>): Promise<void> {
  for (let i = 0; i < docs.length; i += 2000) {
    const res = await es.bulk({ refresh: false, operations: docs.slice(i, i + 2000).flatMap(({ id, doc }) => [{ index: { _index: index, _id: id } }, doc]) });
    const bad = res.items.find((it) => it.index?.error);
    expect(bad?.index?.error, `bulk into ${index} rejected ${bad?.index?._id}`).toBeUndefined();
  }
  await es.indices.refresh({ index });
}

describe('SLO stage output in Elasticsearch', () => {
  it('indexes annotated storm documents and alerts, aggregates on slo.*, writes hourly summaries and reads them back for the report', async (ctx) => {
    if (await skipUnless(ctx, 'elasticsearch')) return;
    await bootstrapElasticsearch(es);
    const cat = loadCatalogue('config/services.yaml');
    const stage = createSloStage(cat);
    const storm = generateStorm();
    const alerts: AlertDoc[] = [];
    for (const d of storm.docs) alerts.push(...stage.process(d));
    expect(alerts).toHaveLength(1);

    await bulk(IDX.connections, storm.docs.map((d) => ({ id: d.event.id, doc: d })));
    await bulk(IDX.alerts, alerts.map((a) => ({ id: a.event.id, doc: a })));

    // Which node group spends the budget, asked the way an analyst would.
    const agg = await es.search({
      index: IDX.connections, size: 0,
      query: { term: { 'slo.impact': 'user_impacting' } },
      aggs: { groups: { terms: { field: 'slo.node_group' }, aggs: { causes: { terms: { field: 'slo.cause' } } } } },
    });
    const buckets = (agg.aggregations!.groups as { buckets: Array<{ key: string; doc_count: number; causes: { buckets: Array<{ key: string }> } }> }).buckets;
    expect(buckets[0]!.key).toBe('pool-b');
    expect(buckets[0]!.doc_count).toBeGreaterThan(50);
    expect(buckets[0]!.causes.buckets.map((b) => b.key).sort()).toEqual(['reset', 'retransmits', 'slow_connect']);
    const hot = await es.count({ index: IDX.connections, query: { range: { 'slo.burn_rate.1h': { gt: 14.4 } } } });
    expect(hot.count).toBeGreaterThan(100);

    const alertHit = await es.search({ index: IDX.alerts, query: { bool: { filter: [{ term: { 'rule.category': 'slo_impact' } }, { term: { 'slo.top_contributor.node_group': 'pool-b' } }] } } });
    expect(alertHit.hits.hits).toHaveLength(1);

    // The hourly job, on a per-second schedule so the test sees the cron fire.
    const job = createSloSummaryJob(stage, es, { schedule: '* * * * * *', index: IDX.slo });
    job.start();
    let n = 0;
    for (let i = 0; i < 40 && n === 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      await es.indices.refresh({ index: IDX.slo, ignore_unavailable: true });
      n = (await es.count({ index: IDX.slo, ignore_unavailable: true }).catch(() => ({ count: 0 }))).count;
    }
    job.stop();
    expect(n).toBe(4);
    const order = await es.search<{ slo: { events: { total: number }; budget_remaining: number } }>({ index: IDX.slo, query: { bool: { filter: [{ term: { 'slo.service.name': 'order' } }, { term: { 'slo.name': 'availability' } }] } } });
    expect(order.hits.hits[0]!._source!.slo.events.total).toBeGreaterThan(1000);
    expect(order.hits.hits[0]!._source!.slo.budget_remaining).toBeLessThan(1);

    // The report's Elasticsearch source gives the same attribution as the offline file.
    const from = Date.parse(storm.from);
    const to = Date.parse(storm.to);
    const fromEs = await fetchFromElasticsearch(es, 'order', from, to, undefined, { connections: IDX.connections, alerts: IDX.alerts });
    expect(fromEs.docs).toHaveLength(storm.docs.length);
    expect(fromEs.alerts.map((a) => a.event.id)).toEqual(alerts.map((a) => a.event.id));
    const viaEs = buildReport(fromEs.docs, { catalogue: cat, service: 'order', fromMs: from, toMs: to, source: 'es', alerts: fromEs.alerts });
    const offline = buildReport(generateStorm().docs, { catalogue: cat, service: 'order', fromMs: from, toMs: to, source: 'file' });
    expect(viaEs.attribution).toEqual(offline.attribution);
    // One judgement: the report over the indexed documents raises the alert the stage raised.
    expect(viaEs.sloAlerts.map((a) => [a.event.id, a['@timestamp'], a.event.reason])).toEqual(alerts.map((a) => [a.event.id, a['@timestamp'], a.event.reason]));
    expect(viaEs.attribution[0]).toMatchObject({ slo: 'availability', cause: 'reset', node_group: 'pool-b', destination: 'inventory' });
  });
});
