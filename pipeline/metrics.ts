import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BatchStats } from './batch.js';
import type { StageStat } from './stage.js';

// The pipeline's Prometheus metrics, named here once. They are fed from the
// per-batch BatchStats (batch.ts stays free of prom-client) and from the
// stages' own figures, collected when /metrics is scraped.

export const PIPELINE_METRICS = {
  recordsIn: 'connaudit_pipeline_records_in_total',
  docsOut: 'connaudit_pipeline_documents_indexed_total',
  alertsOut: 'connaudit_pipeline_alerts_total',
  dlq: 'connaudit_pipeline_dlq_total',
  duplicates: 'connaudit_pipeline_duplicates_total',
  idConflicts: 'connaudit_pipeline_id_conflicts_total',
  lag: 'connaudit_pipeline_consumer_lag',
  bulkSeconds: 'connaudit_pipeline_bulk_request_seconds',
  stageErrors: 'connaudit_pipeline_stage_errors_total',
  ruleEvalSeconds: 'connaudit_pipeline_rule_mean_evaluation_seconds',
  ruleMatches: 'connaudit_pipeline_rule_matches_total',
  regexOverruns: 'connaudit_pipeline_regex_budget_overruns_total',
  waiting: 'connaudit_pipeline_waiting_for',
  stateRestores: 'connaudit_pipeline_state_restores_total',
  stateSnapshots: 'connaudit_pipeline_state_snapshots_total',
  stateSnapshotBytes: 'connaudit_pipeline_state_snapshot_bytes_total',
  lateRecords: 'connaudit_pipeline_late_records_total',
  watermark: 'connaudit_pipeline_watermark_seconds',
  idlePartitions: 'connaudit_pipeline_idle_partitions',
} as const;

export class PipelineMetrics {
  private readonly recordsIn: Counter<'topic'>;
  private readonly docsOut: Counter;
  private readonly alertsOut: Counter;
  private readonly dlq: Counter<'reason'>;
  private readonly duplicates: Counter;
  private readonly idConflicts: Counter;
  private readonly lag: Gauge<'group' | 'topic' | 'partition'>;
  private readonly stageErrors: Gauge;
  readonly bulkSeconds: Histogram<'outcome'>;
  readonly waiting: Gauge<'service'>;
  /** Partition states set up on assignment, by group and whether the changelog had one (found) or not (empty). */
  readonly stateRestores: Counter<'group' | 'outcome'>;
  readonly stateSnapshots: Counter<'group'>;
  readonly stateSnapshotBytes: Counter<'group'>;
  private readonly late: Counter<'topic'>;
  private readonly watermark: Gauge<'group'>;
  private readonly idle: Gauge<'group'>;

  constructor(registry: Registry, stageStats: () => { errors: number; stats: StageStat[] }) {
    const registers = [registry];
    this.recordsIn = new Counter({ name: PIPELINE_METRICS.recordsIn, help: 'Kafka messages consumed, by topic', labelNames: ['topic'], registers });
    this.docsOut = new Counter({ name: PIPELINE_METRICS.docsOut, help: 'Connection documents newly indexed', registers });
    this.alertsOut = new Counter({ name: PIPELINE_METRICS.alertsOut, help: 'Alerts raised by the stages', registers });
    this.dlq = new Counter({ name: PIPELINE_METRICS.dlq, help: 'Messages and documents sent to connaudit.dlq, by dlq-reason', labelNames: ['reason'], registers });
    this.duplicates = new Counter({ name: PIPELINE_METRICS.duplicates, help: 'Redelivered records identical to the stored document (nothing written)', registers });
    this.idConflicts = new Counter({ name: PIPELINE_METRICS.idConflicts, help: 'Records with the id of a stored document and other content (dead-lettered, alerted)', registers });
    this.lag = new Gauge({ name: PIPELINE_METRICS.lag, help: 'Messages between the last committed offset and the end of the partition', labelNames: ['group', 'topic', 'partition'], registers });
    this.bulkSeconds = new Histogram({ name: PIPELINE_METRICS.bulkSeconds, help: 'Elasticsearch bulk request duration', labelNames: ['outcome'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    this.waiting = new Gauge({ name: PIPELINE_METRICS.waiting, help: '1 while the pipeline waits for this service at start', labelNames: ['service'], registers });
    this.stateRestores = new Counter({ name: PIPELINE_METRICS.stateRestores, help: 'Partition stage states set up when a partition was assigned: restored from the changelog (found) or started empty (empty)', labelNames: ['group', 'outcome'], registers });
    this.stateSnapshots = new Counter({ name: PIPELINE_METRICS.stateSnapshots, help: 'Stage-state snapshots written to the changelog topic', labelNames: ['group'], registers });
    this.stateSnapshotBytes = new Counter({ name: PIPELINE_METRICS.stateSnapshotBytes, help: 'Bytes of stage-state snapshots written to the changelog topic', labelNames: ['group'], registers });
    this.late = new Counter({ name: PIPELINE_METRICS.lateRecords, help: 'Records dated before the watermark when they arrived (indexed and evaluated; windows already reported do not fire again), by topic', labelNames: ['topic'], registers });
    this.watermark = new Gauge({ name: PIPELINE_METRICS.watermark, help: 'Event-time watermark of the consumer group (Unix seconds): windows before it are closed', labelNames: ['group'], registers });
    this.idle = new Gauge({ name: PIPELINE_METRICS.idlePartitions, help: 'Input partitions idle (caught up, nothing new for watermark.idle_timeout_s); when all are, the watermark follows the wall clock', labelNames: ['group'], registers });
    this.stageErrors = new Gauge({ name: PIPELINE_METRICS.stageErrors, help: 'Documents a stage failed on (skipped for that stage)', registers, collect: () => this.stageErrors.set(stageStats().errors) });
    // The rule stage reports per-rule figures through Stage.ruleStats(); counters
    // are set from its running totals at scrape time.
    const perRule = (name: string, help: string, pick: (s: StageStat) => number | undefined) => {
      const g: Gauge<'stage' | 'rule'> = new Gauge({
        name, help, labelNames: ['stage', 'rule'], registers,
        collect: () => {
          g.reset();
          for (const s of stageStats().stats) {
            const v = pick(s);
            if (v !== undefined) g.set({ stage: s.stage, rule: s.rule }, v);
          }
        },
      });
    };
    perRule(PIPELINE_METRICS.ruleEvalSeconds, 'Mean time one evaluation of each rule takes (sampled, seconds)', (s) => s.meanEvalSeconds);
    perRule(PIPELINE_METRICS.ruleMatches, 'Documents each rule matched (running total)', (s) => s.matches);
    perRule(PIPELINE_METRICS.regexOverruns, 'Evaluations of each rule that exceeded the per-event time budget (running total)', (s) => s.budgetOverruns);
  }

  batch(topic: string, s: BatchStats): void {
    this.recordsIn.inc({ topic }, s.messages);
    this.docsOut.inc(s.docs);
    this.alertsOut.inc(s.alerts);
    for (const [reason, n] of Object.entries(s.dlqByReason)) this.dlq.inc({ reason }, n);
    this.duplicates.inc(s.duplicates);
    this.idConflicts.inc(s.conflicts);
    if (s.late) this.late.inc({ topic }, s.late);
  }

  /** Alerts the idle ticker raised (windows closed by the watermark, not by a batch). */
  tickAlerts(n: number): void {
    this.alertsOut.inc(n);
  }

  setWatermark(group: string, ms: number | null, idlePartitions: number): void {
    if (ms !== null) this.watermark.set({ group }, ms / 1000);
    this.idle.set({ group }, idlePartitions);
  }

  setLag(group: string, topic: string, partition: number, lag: number): void {
    this.lag.set({ group, topic, partition: String(partition) }, lag);
  }
}
