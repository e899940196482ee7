import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, UsageError, UserError, type Command } from '../command.js';

const help = `Usage: connaudit report --service NAME [--from T] [--to T] [--out FILE]
                        [--input FILE.jsonl] [--alerts FILE.jsonl] [--services CATALOGUE.yaml]
                        [--alerts-out FILE.jsonl]

Writes a self-contained HTML incident review for one catalogued service: its
SLOs, burn rate over time with the multi-window thresholds marked, bad events
by network cause and node group, top destinations, the alert timeline and the
attribution table (cause x node group x destination, share of burned budget).
No external assets: attach it to the postmortem as it is.

The documents are replayed through the same SLO stage and the same judgement
the pipeline runs: for the same documents the report raises the same
slo_impact alert as the pipeline (same time, id, burn rates and attribution),
as long as the pipeline's hosts moved forward together (see the README's SLO
section for what a replay that delivers one host at a time changes).
Documents without connaudit.record_kind are judged as final records; the
report says how many it judged that way, and how many it did not count.

Options:
  --service NAME       service name from the catalogue (required)
  --from T, --to T     ISO-8601 time, 'now' or 'now-6h' (default: the input's
                       range with --input, else now-24h .. now)
  --out FILE           where to write the HTML (default report.html)
  --input FILE.jsonl   read connection documents (agent --output jsonl) from a
                       file instead of Elasticsearch; alert lines mixed in are
                       put on the timeline
  --alerts FILE.jsonl  more alerts for the timeline (e.g. rules backtest output)
  --services FILE      service catalogue (default config/services.yaml)
  --alerts-out FILE    also write the slo_impact alerts the report raised, as
                       JSONL (the documents the pipeline indexes), to compare
                       with connaudit-alerts

Elasticsearch mode reads ${'connaudit-connections'} (documents with slo.service.name)
and connaudit-alerts, from ES_URL (default http://127.0.0.1:9200), starting 6h
before --from so the windows are warm.

Example:
  connaudit slo storm --out storm.jsonl
  connaudit report --service order --input storm.jsonl --out order.html`;

const command: Command = {
  name: 'report',
  summary: 'Write an HTML SLO incident review for a service (burn rates, attribution, alerts)',
  help,
  async run(argv) {
    const { values } = parse(argv, {
      service: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      out: { type: 'string', default: 'report.html' },
      input: { type: 'string' },
      alerts: { type: 'string' },
      services: { type: 'string', default: 'config/services.yaml' },
      'alerts-out': { type: 'string' },
    });
    if (!values.service) throw new UsageError('--service NAME is required');
    const { loadCatalogue } = await import('../../pipeline/slo/catalogue.js');
    const { buildReport, countersNote } = await import('../../pipeline/slo/report/model.js');
    const { renderReport } = await import('../../pipeline/slo/report/html.js');
    const { readJsonl, fetchFromElasticsearch, SourceError } = await import('../../pipeline/slo/report/sources.js');
    const { parseTime } = await import('../../pipeline/slo/report/time.js');
    const { createLogger } = await import('../../lib/log.js');
    const log = createLogger('report');

    if (!existsSync(values.services!)) throw new UserError(`service catalogue ${values.services} does not exist`, 'pass --services PATH to your catalogue (see config/services.yaml for an example)');
    const catalogue = loadCatalogue(values.services!);
    if (!catalogue.services.some((s) => s.name === values.service)) {
      throw new UserError(`service '${values.service}' is not in ${values.services}`, `use one of: ${catalogue.services.map((s) => s.name).join(', ')}`);
    }
    const time = (v: string | undefined, flag: string): number | undefined => {
      if (v === undefined) return undefined;
      try {
        return parseTime(v);
      } catch (err) {
        throw new UsageError(`${flag}: ${(err as Error).message}`);
      }
    };
    let fromMs = time(values.from, '--from');
    let toMs = time(values.to, '--to');
    try {
      let docs;
      let alerts;
      let source: string;
      let span = '';
      if (values.input) {
        ({ docs, alerts } = await readJsonl(values.input));
        if (values.alerts) alerts.push(...(await readJsonl(values.alerts)).alerts);
        if (docs.length === 0) throw new UserError(`${values.input} holds no connection documents`, 'pass a JSONL file written by `connaudit agent --output jsonl` or `connaudit slo storm`');
        const firstMs = Date.parse(docs[0]!['@timestamp']);
        const lastMs = Date.parse(docs[docs.length - 1]!['@timestamp']);
        span = `${values.input} covers ${new Date(firstMs).toISOString()} .. ${new Date(lastMs).toISOString()}`;
        fromMs ??= firstMs;
        // A file whose documents share one instant still has a range to report on.
        toMs ??= Math.max(lastMs, fromMs + 60_000);
        source = `file ${values.input}`;
      } else {
        const { Client } = await import('@elastic/elasticsearch');
        const { esClientOptions, describeEndpoints } = await import('../../lib/connect.js');
        toMs ??= Date.now();
        fromMs ??= toMs - 24 * 3_600_000;
        const es = new Client(esClientOptions());
        try {
          ({ docs, alerts } = await fetchFromElasticsearch(es, values.service, fromMs, toMs, log));
        } finally {
          await es.close();
        }
        if (values.alerts) alerts.push(...(await readJsonl(values.alerts)).alerts);
        source = `Elasticsearch ${String(describeEndpoints().elasticsearch)}`;
      }
      if (fromMs >= toMs) {
        // Name where each end came from: the user may have given only one of them.
        const fromSaid = values.from !== undefined ? '--from' : values.input ? 'the input\'s first document' : 'now-24h';
        const toSaid = values.to !== undefined ? '--to' : values.input ? 'the input\'s last document' : 'now';
        throw new UsageError(`the range is empty: ${fromSaid} (${new Date(fromMs).toISOString()}) is not before ${toSaid} (${new Date(toMs).toISOString()})`);
      }
      log.info({ documents: docs.length, alerts: alerts.length }, 'building the report');
      const model = buildReport(docs, { catalogue, service: values.service, fromMs, toMs, source, alerts });
      if (model.totals.events === 0) {
        // An empty page would read as "no incident"; say that there was nothing to judge.
        throw new UserError(
          `no connection documents of service '${values.service}' between ${new Date(fromMs).toISOString()} and ${new Date(toMs).toISOString()} in ${source}${span ? ` (${span})` : ''}`,
          'widen --from/--to to a range with traffic of this service, or check --service and that the documents carry the service\'s process names, ports or hosts from the catalogue',
        );
      }
      writeFileSync(values.out!, renderReport(model));
      if (values['alerts-out']) writeFileSync(values['alerts-out'], model.sloAlerts.map((a) => `${JSON.stringify(a)}\n`).join(''));
      const top = model.attribution[0];
      process.stdout.write(`wrote ${resolve(values.out!)}: ${model.totals.events} connections, ${model.totals.bad} bad, ${model.alerts.length} alerts, ${model.attribution.length} attribution rows${top ? `; top: ${top.cause} on ${top.node_group} -> ${top.destination} (${Math.round(top.share * 100)}% of ${top.slo} burn)` : ''}\n`);
      for (const a of model.sloAlerts) process.stdout.write(`slo_impact ${a['@timestamp']} ${a.event.id}: ${a.event.reason ?? ''}\n`);
      const note = countersNote(model.counters);
      if (note) process.stdout.write(`${note}\n`);
      return 0;
    } catch (err) {
      if (err instanceof SourceError) throw new UserError(err.message, err.hint);
      throw err;
    }
  },
};
export default command;
