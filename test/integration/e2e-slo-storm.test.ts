import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import { INDEX_ALERTS, INDEX_CONNECTIONS, INDEX_SLO } from '../../lib/names.js';
import { esClient, eventually, runCli, type Proc } from '../helpers/cli.js';
import { skipUnless } from '../helpers/env.js';

// The seed's SLO example replayed through the REAL pipeline.
// One node group's calls from the order service to inventory get slow
// connects, retransmits and resets while the other groups stay healthy; the
// pipeline must raise one slo_impact alert naming that node group as the top
// contributor, and every replayed record must be indexed exactly once.
//
// The replay is keyed by host over six partitions, and kafkajs hands the
// pipeline one partition's batch at a time. The alert must still be found,
// and `connaudit report` over the same file must raise the same alert: same
// time, id, burn rates and attribution (one judgement, pipeline/slo/judge.ts).

let tmp = '';
const procs: Proc[] = [];

/** The pipeline's SLO incident log lines (pino JSON on stderr), for failure messages. */
function sloLog(p: Proc): string {
  const lines = p.stderr().split('\n').filter((l) => /"msg":"[^"]*SLO/.test(l) || /"level":(50|60)/.test(l));
  return lines.length > 0 ? lines.slice(-20).join('\n') : '(the pipeline logged no SLO incident and no error)';
}

/** slo.impact per node group and host of this run's documents, for failure messages. */
async function impactByHost(es: ReturnType<typeof esClient>, range: object): Promise<string> {
  const r = await es.search({
    index: INDEX_CONNECTIONS, size: 0,
    query: { bool: { filter: [range, { prefix: { 'host.name': 'order-' } }] } },
    aggs: { host: { terms: { field: 'host.name', size: 50 }, aggs: { group: { terms: { field: 'connaudit.node_group', missing: '(none)' } }, impact: { terms: { field: 'slo.impact', missing: '(none)' } } } } },
  });
  type B = { key: string; doc_count: number };
  const hosts = (r.aggregations as { host: { buckets: Array<B & { group: { buckets: B[] }; impact: { buckets: B[] } }> } }).host.buckets;
  return hosts.map((h) => `${h.key} (${h.group.buckets.map((g) => g.key).join(',')}): ${h.impact.buckets.map((i) => `${i.key}=${i.doc_count}`).join(' ')}`).join('\n');
}

afterAll(async () => {
  for (const p of procs) await p.stop('SIGTERM', 15_000);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('SLO storm through agent --replay, Kafka, pipeline and Elasticsearch', () => {
  it('finds the slo_impact alert with pool-b as top contributor, and indexes every record once', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    tmp = mkdtempSync(join(tmpdir(), 'ca-storm-'));
    // A start time unique to this run keeps its documents and alert apart from
    // earlier runs' (ids are deterministic, so the same start would overwrite them).
    const startMs = Date.UTC(2024, 0, 1) + Math.floor(Math.random() * 300) * 86_400_000;
    const start = new Date(startMs).toISOString();
    const end = new Date(startMs + 6 * 3_600_000).toISOString();
    const file = join(tmp, 'storm.jsonl');
    const gen = runCli(['slo', 'storm', '--out', file, '--start', start]);
    expect(await gen.exited).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const expected = lines.length;
    expect(expected).toBeGreaterThan(1000);

    const group = `storm-${startMs}`;
    const pipeline = runCli(['pipeline', '--config', 'config/pipeline.yaml', '--offset-reset', 'latest', '--group', group, '--state-dir', join(tmp, 'state')]);
    procs.push(pipeline);
    await pipeline.waitForLog(new RegExp(`"group":"${group}".*joined consumer group`), 90_000);

    const replay = runCli(['agent', '--replay', file]);
    expect(await replay.exited).toBe(0);

    const es = esClient();
    const range = { range: { '@timestamp': { gte: start, lte: end } } };
    const indexed = await eventually(`${expected} storm documents in ${INDEX_CONNECTIONS}`, async () => {
      await es.indices.refresh({ index: INDEX_CONNECTIONS });
      const c = await es.count({ index: INDEX_CONNECTIONS, query: { bool: { filter: [range, { prefix: { 'host.name': 'order-' } }] } } });
      return c.count >= expected ? c.count : undefined;
    }, 120_000, 1000);
    expect(indexed).toBe(expected);

    const findAlerts = async (): Promise<AlertDoc[]> => {
      await es.indices.refresh({ index: INDEX_ALERTS });
      const r = await es.search<AlertDoc>({
        index: INDEX_ALERTS,
        query: { bool: { filter: [range, { term: { 'rule.category': 'slo_impact' } }, { term: { 'service.name': 'order' } }] } },
      });
      return r.hits.hits.map((h) => h._source!);
    };
    let alerts: AlertDoc[];
    try {
      alerts = await eventually('the slo_impact alert', async () => {
        const found = await findAlerts();
        return found.length > 0 ? found : undefined;
      }, 60_000, 1000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\npipeline SLO log:\n${sloLog(pipeline)}\nslo.impact by host:\n${await impactByHost(es, range)}`);
    }
    // A second alert for the same incident would be indexed in the same batch or the next: give it the chance to show.
    await new Promise((r) => setTimeout(r, 3000));
    alerts = await findAlerts();
    const diag = (): string => `alerts: ${alerts.map((x) => `${x.event.id} @${x['@timestamp']}: ${x.event.reason}`).join('\n')}\npipeline SLO log:\n${sloLog(pipeline)}`;
    expect(alerts, diag()).toHaveLength(1);
    const alert = alerts[0]!;
    const a = alert.connaudit.alert as unknown as { top_node_group: string; contributors: Array<{ node_group: string; destination: string; cause: string; share: number }> };
    expect(a.top_node_group, diag()).toBe('pool-b');
    expect(a.contributors[0]).toMatchObject({ node_group: 'pool-b', destination: 'inventory' });
    expect(a.contributors.filter((c) => c.node_group === 'pool-b').length).toBeGreaterThan(0);
    // Healthy groups are not what burned the budget.
    const poolA = a.contributors.filter((c) => c.node_group === 'pool-a').reduce((s, c) => s + (c.share ?? 0), 0);
    const poolB = a.contributors.filter((c) => c.node_group === 'pool-b').reduce((s, c) => s + (c.share ?? 0), 0);
    expect(poolB).toBeGreaterThan(poolA);

    // The report over the same file judges the same way.
    const reportAlerts = join(tmp, 'report-alerts.jsonl');
    const rep = runCli(['report', '--service', 'order', '--input', file, '--out', join(tmp, 'report.html'), '--alerts-out', reportAlerts]);
    expect(await rep.exited).toBe(0);
    const fromReport = readFileSync(reportAlerts, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AlertDoc);
    const judged = (x: AlertDoc) => ({
      id: x.event.id, at: x['@timestamp'], reason: x.event.reason,
      burning: x.connaudit.alert.burning, contributors: x.connaudit.alert.contributors, top: x.connaudit.alert.top_node_group,
    });
    expect(fromReport.map(judged), diag()).toEqual([judged(alert)]);

    // Connections that burned the budget are marked user_impacting for analysts.
    const impacting = await es.count({ index: INDEX_CONNECTIONS, query: { bool: { filter: [range, { term: { 'slo.impact': 'user_impacting' } }, { term: { 'connaudit.node_group': 'pool-b' } }] } } });
    expect(impacting.count, `slo.impact by host:\n${await impactByHost(es, range)}`).toBeGreaterThan(0);

    // Stopping the pipeline writes the SLO summaries (the same job node-cron runs hourly).
    expect(await pipeline.stop('SIGTERM')).toBe(0);
    await es.indices.refresh({ index: INDEX_SLO });
    const summaries = await es.search<{ slo: { name: string; burn_rate: Record<string, number>; events: { total: number } } }>({
      index: INDEX_SLO, size: 10,
      query: { bool: { filter: [{ term: { 'slo.service.name': 'order' } }, { range: { '@timestamp': { gte: start, lte: end } } }] } },
    });
    const names = summaries.hits.hits.map((h) => h._source!.slo.name).sort();
    expect(names).toEqual(['availability', 'connect-latency']);
    expect(summaries.hits.hits.every((h) => h._source!.slo.events.total > 0)).toBe(true);
    await es.close();
  }, 300_000);
});
