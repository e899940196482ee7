import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import { INDEX_ALERTS, INDEX_CONNECTIONS } from '../../lib/names.js';
import { esClient, eventually, runCli, type Proc } from '../helpers/cli.js';
import { skipUnless } from '../helpers/env.js';

// Issue 5's "done when": the seed's example replayed through the REAL pipeline.
// One node group's calls from the order service to inventory get slow
// connects, retransmits and resets while the other groups stay healthy; the
// pipeline must raise one slo_impact alert naming that node group as the top
// contributor, and every replayed record must be indexed exactly once.

let tmp = '';
const procs: Proc[] = [];

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
    const pipeline = runCli(['pipeline', '--config', 'config/pipeline.yaml', '--group', group, '--state-dir', join(tmp, 'state')]);
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

    const alerts = await eventually('the slo_impact alert', async () => {
      await es.indices.refresh({ index: INDEX_ALERTS });
      const r = await es.search<AlertDoc>({
        index: INDEX_ALERTS,
        query: { bool: { filter: [range, { term: { 'rule.category': 'slo_impact' } }, { term: { 'service.name': 'order' } }] } },
      });
      return r.hits.hits.length > 0 ? r.hits.hits.map((h) => h._source!) : undefined;
    }, 60_000, 1000);
    expect(alerts).toHaveLength(1);
    const alert = alerts[0]!;
    const a = alert.connaudit.alert as { top_node_group: string; contributors: Array<{ node_group: string; destination: string; cause: string; share: number }> };
    expect(a.top_node_group).toBe('pool-b');
    expect(a.contributors[0]).toMatchObject({ node_group: 'pool-b', destination: 'inventory' });
    expect(a.contributors.filter((c) => c.node_group === 'pool-b').length).toBeGreaterThan(0);
    // Healthy groups are not what burned the budget.
    const poolA = a.contributors.filter((c) => c.node_group === 'pool-a').reduce((s, c) => s + (c.share ?? 0), 0);
    const poolB = a.contributors.filter((c) => c.node_group === 'pool-b').reduce((s, c) => s + (c.share ?? 0), 0);
    expect(poolB).toBeGreaterThan(poolA);

    // Connections that burned the budget are marked user_impacting for analysts.
    const impacting = await es.count({ index: INDEX_CONNECTIONS, query: { bool: { filter: [range, { term: { 'slo.impact': 'user_impacting' } }, { term: { 'connaudit.node_group': 'pool-b' } }] } } });
    expect(impacting.count).toBeGreaterThan(0);
    await es.close();
  }, 300_000);
});
