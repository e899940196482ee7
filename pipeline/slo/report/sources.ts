import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Client } from '@elastic/elasticsearch';
import type { AlertDoc } from '../../../lib/alert.js';
import type { ConnectionDoc } from '../../../lib/ecs.js';
import type { Logger } from '../../../lib/log.js';
import { INDEX_ALERTS, INDEX_CONNECTIONS } from '../../../lib/names.js';

// Where the report's documents come from. Both sources hand over plain
// documents in @timestamp order; buildReport does the rest, so the offline and
// the Elasticsearch report cannot disagree.

/** Windows need history before the range starts: 6h fills every window a chart shows. */
export const WARMUP_MS = 6 * 3_600_000;
const PAGE = 2_000;

export class SourceError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = 'SourceError';
  }
}

const isAlert = (v: Record<string, unknown>): boolean => (v.event as { kind?: unknown } | undefined)?.kind === 'alert';

/** Reads JSONL of connection documents (and, mixed in or from a second file, alerts). Errors name file:line. */
export async function readJsonl(path: string): Promise<{ docs: ConnectionDoc[]; alerts: AlertDoc[] }> {
  const docs: ConnectionDoc[] = [];
  const alerts: AlertDoc[] = [];
  const rl = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const text of rl) {
      line++;
      if (text.trim() === '') continue;
      let v: Record<string, unknown>;
      try {
        v = JSON.parse(text) as Record<string, unknown>;
      } catch (err) {
        throw new SourceError(`${path}:${line}: not JSON (${(err as Error).message})`, 'the input must hold one JSON document per line, as written by `connaudit agent --output jsonl` or `connaudit rules backtest`');
      }
      if (typeof v['@timestamp'] !== 'string') throw new SourceError(`${path}:${line}: @timestamp: is required`, 'every document needs an ISO-8601 @timestamp');
      if (Number.isNaN(Date.parse(v['@timestamp']))) throw new SourceError(`${path}:${line}: @timestamp: ${JSON.stringify(v['@timestamp'])} is not an ISO-8601 time`, 'every document needs an ISO-8601 @timestamp');
      if (isAlert(v)) alerts.push(v as unknown as AlertDoc);
      else {
        for (const f of ['host', 'destination', 'network', 'connaudit', 'event'] as const) {
          if (typeof v[f] !== 'object' || v[f] === null) throw new SourceError(`${path}:${line}: ${f}: is required on a connection document`, 'use nested ECS connection documents (connaudit agent --output jsonl)');
        }
        docs.push(v as unknown as ConnectionDoc);
      }
    }
  } catch (err) {
    if (err instanceof SourceError) throw err;
    throw new SourceError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'check the --input path');
  }
  // By instant, not by text: "…T10:00:00+02:00" and "…T08:00:00.000Z" are the same time.
  const ms = new Map(docs.map((d) => [d, Date.parse(d['@timestamp'])]));
  docs.sort((a, b) => ms.get(a)! - ms.get(b)!);
  return { docs, alerts };
}

/**
 * All connection documents the SLO stage attributed to `service` between
 * from - WARMUP_MS and to, paged with search_after (no scroll context to leak,
 * no script: the integ-test-zip distribution has no painless).
 */
export async function fetchFromElasticsearch(
  es: Client, service: string, fromMs: number, toMs: number, log?: Logger,
  indices: { connections: string; alerts: string } = { connections: INDEX_CONNECTIONS, alerts: INDEX_ALERTS },
): Promise<{ docs: ConnectionDoc[]; alerts: AlertDoc[] }> {
  const range = { range: { '@timestamp': { gte: new Date(fromMs - WARMUP_MS).toISOString(), lte: new Date(toMs).toISOString() } } };
  const docs = await pageAll<ConnectionDoc>(es, indices.connections, { bool: { filter: [range, { term: { 'slo.service.name': service } }] } }, log);
  if (docs.length === 0) {
    throw new SourceError(
      `no connection documents in ${indices.connections} with slo.service.name=${service} between ${new Date(fromMs).toISOString()} and ${new Date(toMs).toISOString()}`,
      'check --service and the time range; slo.* is only written when the pipeline runs with a services catalogue (services: in its config). For files, use --input FILE.jsonl',
    );
  }
  const alertRange = { range: { '@timestamp': { gte: new Date(fromMs).toISOString(), lte: new Date(toMs).toISOString() } } };
  const alerts = await pageAll<AlertDoc>(es, indices.alerts, {
    bool: { filter: [alertRange], should: [{ term: { 'slo.service.name': service } }, { term: { 'service.name': service } }], minimum_should_match: 1 },
  }, log);
  return { docs, alerts };
}

async function pageAll<T>(es: Client, index: string, query: Record<string, unknown>, log?: Logger): Promise<T[]> {
  const out: T[] = [];
  let after: Array<string | number> | undefined;
  for (;;) {
    let res;
    try {
      res = await es.search<T>({
        index,
        query,
        size: PAGE,
        sort: [{ '@timestamp': { order: 'asc' } }, { 'event.id': { order: 'asc' } }],
        track_total_hits: false,
        ignore_unavailable: true,
        ...(after ? { search_after: after } : {}),
      });
    } catch (err) {
      throw new SourceError(`searching ${index} failed: ${(err as Error).message}`, 'is Elasticsearch up (connaudit services status) and ES_URL right?');
    }
    const hits = res.hits.hits;
    for (const h of hits) if (h._source) out.push(h._source);
    if (hits.length < PAGE) break;
    after = hits[hits.length - 1]!.sort as Array<string | number>;
    log?.info({ index, documents: out.length }, 'reading');
  }
  return out;
}
