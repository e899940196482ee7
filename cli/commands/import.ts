import { createWriteStream, existsSync } from 'node:fs';
import { parse, UsageError, UserError, wantsHelp, type Command } from '../command.js';

// `connaudit import`: other tools' connection records -> connaudit documents
// (JSONL, as `agent --output jsonl` prints them), ready for `agent --replay`,
// `rules backtest --input` and `report --input`.

const HELP = `Usage: connaudit import <zeek|ecs> FILE [--out FILE.jsonl] [--host NAME]

  zeek FILE    a Zeek conn.log: the ASCII writer's TSV (#fields header) or the
               JSON writer's lines. conn_state, duration, bytes and community_id
               are kept; each connection is written for the host that opened it
               (or, for one from outside, the host that accepted it).
      --host NAME   write every record for this host.name instead of the address
  ecs FILE     ECS connection documents from other shippers, one per line:
               Packetbeat flows, Elastic Defend network end events, or
               Elasticsearch export lines ({_source: ...}).

  --out FILE   write the documents here (default: stdout)

Every document gets a deterministic connaudit.conn_uid (community_id + start
time) and a record_kind, so importing twice gives the same ids. Lines that
cannot be judged are reported as FILE:LINE: field: reason and counted; records
that are not TCP, and connection start events (whose end event carries the
connection), are counted as skipped. Exit 1 when any line was rejected.`;

const SHOWN_PER_REASON = 20;

const command: Command = {
  name: 'import',
  summary: 'Turn Zeek conn.log or other shippers\' ECS connection documents into connaudit documents',
  help: HELP,
  async run(argv) {
    const [format, ...rest] = argv;
    if (!format || wantsHelp(argv)) {
      process.stdout.write(`${HELP}\n`);
      return format ? 0 : 2;
    }
    if (format !== 'zeek' && format !== 'ecs') throw new UsageError(`unknown format '${format}': use zeek or ecs`);
    const { values, positionals } = parse(rest, { out: { type: 'string' }, host: { type: 'string' } }, true);
    const file = positionals[0];
    if (!file || positionals.length > 1) throw new UsageError(`import ${format} takes exactly one FILE`);
    if (!existsSync(file)) throw new UserError(`${file} does not exist`, format === 'zeek' ? 'pass a Zeek conn.log (TSV or JSON)' : 'pass a JSONL file of ECS connection documents');
    if (values.host && format !== 'zeek') throw new UsageError('--host applies to zeek only: ECS documents name their host');
    const { runImport } = await import('../../pipeline/import/run.js');
    const out = values.out ? createWriteStream(values.out) : process.stdout;
    // Lines are written in chunks, and the import waits when the output is
    // full, so a large log neither makes one write per line nor piles up in memory.
    let chunk: string[] = [];
    const flush = (): Promise<void> | undefined => {
      const text = chunk.join('');
      chunk = [];
      return out.write(text) ? undefined : new Promise<void>((resolve) => out.once('drain', () => resolve()));
    };
    const stats = await runImport(format, file, (d) => {
      chunk.push(`${JSON.stringify(d)}\n`);
      return chunk.length >= 1000 ? flush() : undefined;
    }, {
      host: values.host,
      onProgress: (n) => process.stderr.write(`${n} records read\n`),
    });
    if (chunk.length) await flush();
    if (values.out) await new Promise<void>((resolve, reject) => (out as ReturnType<typeof createWriteStream>).end((err?: Error | null) => (err ? reject(err) : resolve())));

    const shown = new Map<string, number>();
    for (const r of stats.rejected) {
      const n = (shown.get(r.reason) ?? 0) + 1;
      shown.set(r.reason, n);
      if (n <= SHOWN_PER_REASON) process.stderr.write(`${file}:${r.line}: ${r.message}\n`);
    }
    for (const [reason, n] of shown) if (n > SHOWN_PER_REASON) process.stderr.write(`${file}: ... and ${n - SHOWN_PER_REASON} more line(s) rejected for: ${reason}\n`);
    const skipped = [...stats.skipped].map(([r, n]) => `${n} ${r}`).join(', ');
    const rejected = [...shown].map(([r, n]) => `${n} ${r}`).join(', ');
    process.stderr.write(`import ${format} ${file}: ${stats.records} record(s), ${stats.written} written${values.out ? ` to ${values.out}` : ''}, ` +
      `${[...stats.skipped.values()].reduce((a, b) => a + b, 0)} skipped${skipped ? ` (${skipped})` : ''}, ${stats.rejected.length} rejected${rejected ? ` (${rejected})` : ''}\n`);
    if (stats.inferred) {
      process.stderr.write(`${stats.inferred} document(s) carry no TCP state; conn_state was inferred from packet counts or end events (labels.conn_state_inferred): refused and reset connections look established in them\n`);
    }
    return stats.rejected.length ? 1 : 0;
  },
};
export default command;
