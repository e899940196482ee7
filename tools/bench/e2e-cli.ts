import { highestSustained, nextRate } from './e2e-core.js';
import { runE2e, type E2eOptions, type E2eRun } from './e2e.js';

// `connaudit bench e2e`: one run at --rate, or a step search for the highest
// rate sustained (e2e-core.ts nextRate), and the text a person reads.

export interface BenchE2eOptions extends Omit<E2eOptions, 'rate'> {
  rate?: number;
  from: number;
  steps: number;
}

export interface BenchE2eResult {
  runs: E2eRun[];
  /** Step search only: the highest rate that was sustained (undefined: none). */
  highestSustained?: number;
  search: boolean;
}

export async function benchE2e(o: BenchE2eOptions): Promise<BenchE2eResult> {
  const progress = o.progress ?? (() => undefined);
  if (o.rate !== undefined) {
    const run = await runE2e({ ...o, rate: o.rate });
    progress(runLine(run));
    return { runs: [run], search: false };
  }
  const runs: E2eRun[] = [];
  const history: Array<{ rate: number; sustained: boolean }> = [];
  for (let rate = nextRate(history, { start: o.from, maxSteps: o.steps }); rate !== undefined; rate = nextRate(history, { start: o.from, maxSteps: o.steps })) {
    progress(`step ${history.length + 1} of at most ${o.steps}: ${rate} records/s`);
    const run = await runE2e({ ...o, rate });
    runs.push(run);
    history.push({ rate, sustained: run.sustained });
    progress(runLine(run));
  }
  return { runs, highestSustained: highestSustained(history), search: true };
}

function runLine(r: E2eRun): string {
  const verdict = r.sustained ? 'sustained' : `NOT sustained (${r.reasons.join('; ')})`;
  return `rate ${r.rate}/s asked, ${r.achievedRate}/s reached for ${r.seconds} s: in ${r.produced}, indexed ${r.indexed}, lost ${r.lost}, dead-lettered ${r.deadLettered}; `
    + `close->searchable p50 ${r.latency.p50} s p99 ${r.latency.p99} s max ${r.latency.max} s (${r.latency.samples} samples); drain ${r.drainS} s; `
    + `${r.bulkRequests} bulk requests of ${r.bulkMeanS} s mean; ${r.indexedPerSec} indexed/s; pipeline CPU ${r.pipelineCores} cores (${r.pipelineCpuS} s, ${r.pipelineCpuMsPerDoc} ms per doc), Elasticsearch ${r.esCores} cores (${r.esCpuMsPerDoc} ms per doc), peak RSS ${r.pipelinePeakRssMiB} MiB; load ${r.loadAvg.start}->${r.loadAvg.end}; ${verdict}`;
}

export function e2eText(r: BenchE2eResult): string {
  const head = '| rate asked | reached | in | indexed | lost | DLQ | p50 s | p99 s | max s | drain s | indexed/s | bulk mean s | pipeline cores | pipeline CPU ms/doc | ES cores | ES CPU ms/doc | load avg | max batch | refresh | sustained |';
  const sep = '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = r.runs.map((x) => `| ${x.rate} | ${x.achievedRate} | ${x.produced} | ${x.indexed} | ${x.lost} | ${x.deadLettered} | ${x.latency.p50} | ${x.latency.p99} | ${x.latency.max} | ${x.drainS} | ${x.indexedPerSec} | ${x.bulkMeanS} | ${x.pipelineCores} | ${x.pipelineCpuMsPerDoc} | ${x.esCores} | ${x.esCpuMsPerDoc} | ${x.loadAvg.start}–${x.loadAvg.end} | ${x.maxBatch} | ${x.refreshInterval} | ${x.sustained ? 'yes' : `no: ${x.reasons.join('; ')}`} |`);
  const tail = r.search ? `\nHighest rate sustained (0 lost, every record searchable within the lag bound): ${r.highestSustained ?? 'none of the tried rates'} records/s` : '';
  return [head, sep, ...rows].join('\n') + tail;
}
