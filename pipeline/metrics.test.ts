import { describe, expect, it } from 'vitest';
import { createRegistry } from '../lib/metrics.js';
import { emptyStats } from './consumer-role.js';
import { PipelineMetrics } from './metrics.js';
import type { StageStat } from './stage.js';

describe('PipelineMetrics', () => {
  it('counts records in, documents out, DLQ by reason, duplicates and conflicts from batch stats, and lag per partition', async () => {
    const registry = createRegistry('pipeline');
    const m = new PipelineMetrics(registry, () => ({ errors: 0, stats: [] }));
    m.batch('connaudit.connections', { ...emptyStats(), messages: 10, docs: 6, dlq: 3, duplicates: 1, conflicts: 2, dlqByReason: { id_conflict: 2, future_event_time: 1 } });
    m.batch('connaudit.connections', { ...emptyStats(), messages: 5, docs: 5 });
    m.setLag('g', 'connaudit.connections', 3, 42);
    m.bulkSeconds.observe({ outcome: 'ok' }, 0.02);
    const text = await registry.metrics();
    expect(text).toContain('connaudit_pipeline_records_in_total{topic="connaudit.connections",component="pipeline"} 15');
    expect(text).toContain('connaudit_pipeline_documents_indexed_total{component="pipeline"} 11');
    expect(text).toContain('connaudit_pipeline_dlq_total{reason="id_conflict",component="pipeline"} 2');
    expect(text).toContain('connaudit_pipeline_dlq_total{reason="future_event_time",component="pipeline"} 1');
    expect(text).toContain('connaudit_pipeline_duplicates_total{component="pipeline"} 1');
    expect(text).toContain('connaudit_pipeline_id_conflicts_total{component="pipeline"} 2');
    expect(text).toContain('connaudit_pipeline_consumer_lag{group="g",topic="connaudit.connections",partition="3",component="pipeline"} 42');
    expect(text).toContain('connaudit_pipeline_bulk_request_seconds_count{component="pipeline",outcome="ok"} 1');
  });

  it('exports the per-rule figures a stage reports through ruleStats() (rule time, regex budget overruns)', async () => {
    const registry = createRegistry('pipeline');
    let stats: StageStat[] = [{ stage: 'rules', rule: 'r1', matches: 100, meanEvalSeconds: 0.5, budgetOverruns: 0 }];
    new PipelineMetrics(registry, () => ({ errors: 4, stats }));
    let text = await registry.metrics();
    expect(text).toContain('connaudit_pipeline_rule_mean_evaluation_seconds{stage="rules",rule="r1",component="pipeline"} 0.5');
    expect(text).toContain('connaudit_pipeline_rule_matches_total{stage="rules",rule="r1",component="pipeline"} 100');
    expect(text).toContain('connaudit_pipeline_stage_errors_total{component="pipeline"} 4');
    stats = [{ stage: 'rules', rule: 'r2', matches: 7, meanEvalSeconds: 3, budgetOverruns: 2 }];
    text = await registry.metrics();
    expect(text).toContain('connaudit_pipeline_regex_budget_overruns_total{stage="rules",rule="r2",component="pipeline"} 2');
    // A rule removed by a reload disappears instead of keeping its last figure.
    expect(text).not.toContain('rule="r1"');
  });

  it('counts late records per topic, and shows the watermark and the idle partitions per group', async () => {
    const registry = createRegistry('pipeline');
    const m = new PipelineMetrics(registry, () => ({ errors: 0, stats: [] }));
    m.batch('connaudit.connections', { ...emptyStats(), messages: 10, docs: 10, late: 4 });
    m.batch('connaudit.connections', { ...emptyStats(), messages: 3, docs: 3, late: 0 });
    m.batch('connaudit.rekey', { ...emptyStats(), messages: 2, late: 1 });
    m.setWatermark('g', Date.parse('2026-01-05T10:00:00Z'), 3);
    m.tickAlerts(2);
    const text = await registry.metrics();
    expect(text).toContain('connaudit_pipeline_late_records_total{topic="connaudit.connections",component="pipeline"} 4');
    expect(text).toContain('connaudit_pipeline_late_records_total{topic="connaudit.rekey",component="pipeline"} 1');
    expect(text).toContain(`connaudit_pipeline_watermark_seconds{group="g",component="pipeline"} ${Date.parse('2026-01-05T10:00:00Z') / 1000}`);
    expect(text).toContain('connaudit_pipeline_idle_partitions{group="g",component="pipeline"} 3');
    expect(text).toContain('connaudit_pipeline_alerts_total{component="pipeline"} 2');
  });
});
