import type { Client } from '@elastic/elasticsearch';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../../lib/log.js';
import { INDEX_SLO } from '../../lib/names.js';
import type { SloStage } from './index.js';

// Hourly SLO summaries into connaudit-slo: one document per service, SLO and
// hour, so a dashboard can show budgets over months without scanning every
// connection. The cron fires on the wall clock, but the numbers are the
// stage's event-time windows, like everything else the stage computes.

const HOUR = 3_600_000;

export interface SloSummaryDoc {
  '@timestamp': string;
  event: { kind: 'metric'; dataset: 'connaudit.slo'; module: 'connaudit'; start: string; end: string };
  service: { name: string; environment?: string };
  slo: {
    service: { name: string; owner?: string; environment?: string };
    name: string;
    type: 'availability' | 'latency';
    objective: number;
    period: string;
    threshold_ms?: number;
    burn_rate: Record<string, number>;
    budget_remaining: number;
    burning: boolean;
    window: '1h';
    /** Good share of the hour's events (1 when the hour had none). */
    sli: number;
    events: { total: number; bad: number };
    period_events: { total: number; bad: number };
  };
}

/** The summaries for the hour of event time ending at the stage's newest event. */
export function summaryDocs(stage: SloStage): Array<{ id: string; doc: SloSummaryDoc }> {
  const now = stage.eventTimeMs();
  if (now === null) return [];
  const hour = Math.floor(now / HOUR) * HOUR;
  const out: Array<{ id: string; doc: SloSummaryDoc }> = [];
  for (const st of stage.statuses()) {
    for (const s of st.slos) {
      const svc: SloSummaryDoc['slo']['service'] = { name: st.service };
      if (st.owner) svc.owner = st.owner;
      if (st.environment) svc.environment = st.environment;
      const doc: SloSummaryDoc = {
        '@timestamp': new Date(hour).toISOString(),
        event: { kind: 'metric', dataset: 'connaudit.slo', module: 'connaudit', start: new Date(now - HOUR).toISOString(), end: new Date(now).toISOString() },
        service: { name: st.service, ...(st.environment ? { environment: st.environment } : {}) },
        slo: {
          service: svc,
          name: s.name,
          type: s.type,
          objective: s.objective,
          period: s.period,
          ...(s.threshold_ms !== undefined ? { threshold_ms: s.threshold_ms } : {}),
          burn_rate: s.burn_rate,
          budget_remaining: s.budget_remaining,
          burning: st.burning,
          window: '1h',
          sli: s.total_1h === 0 ? 1 : Math.round(((s.total_1h - s.bad_1h) / s.total_1h) * 1e6) / 1e6,
          events: { total: s.total_1h, bad: s.bad_1h },
          period_events: { total: s.period_total, bad: s.period_bad },
        },
      };
      // Re-running within the same hour overwrites that hour's document.
      out.push({ id: `${st.service}|${s.name}|${doc['@timestamp']}`, doc });
    }
  }
  return out;
}

export async function writeSummaries(stage: SloStage, es: Client, index = INDEX_SLO): Promise<number> {
  const docs = summaryDocs(stage);
  if (docs.length === 0) return 0;
  const res = await es.bulk({ operations: docs.flatMap(({ id, doc }) => [{ index: { _index: index, _id: id } }, doc]) });
  if (res.errors) {
    const first = res.items.find((i) => i.index?.error)?.index;
    throw new Error(`writing SLO summaries to ${index} failed for ${first?._id}: ${first?.error?.type}: ${first?.error?.reason} (is the connaudit-slo template installed? see schemas/elasticsearch/index/connaudit-slo.json)`);
  }
  return docs.length;
}

export interface SloSummaryJob {
  start(): void;
  stop(): void;
  /** Write the summaries now (what the cron does every hour). */
  runOnce(): Promise<number>;
}

export function createSloSummaryJob(stage: SloStage, es: Client, opts: { schedule?: string; index?: string; log?: Logger } = {}): SloSummaryJob {
  const schedule = opts.schedule ?? '0 * * * *';
  let task: ScheduledTask | undefined;
  const runOnce = async (): Promise<number> => {
    const n = await writeSummaries(stage, es, opts.index);
    opts.log?.info({ index: opts.index ?? INDEX_SLO, documents: n }, 'SLO summaries written');
    return n;
  };
  return {
    start() {
      if (task) return;
      task = cron.createTask(schedule, async () => {
        try {
          await runOnce();
        } catch (err) {
          // A failed hour is logged and retried at the next run; it must not stop the pipeline.
          opts.log?.error({ err: (err as Error).message }, 'SLO summary run failed; the next hourly run retries');
        }
      }, { name: 'connaudit-slo-summary', noOverlap: true });
      void task.start();
    },
    stop() {
      void task?.stop();
      void task?.destroy();
      task = undefined;
    },
    runOnce,
  };
}
