import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, UsageError, UserError, wantsHelp, type Command } from '../command.js';

const help = `Usage: connaudit kibana export [--out FILE]

Writes connaudit's Kibana saved objects as NDJSON (stdout unless --out):
  data views   connaudit-connections*, connaudit-alerts*, connaudit-slo*
  searches     Unexpected outbound by process; Lateral-movement alerts by
               source; Resets by node group; User-impacting alerts only;
               SLO summaries: burning services
  dashboard    connaudit: network anomalies and SLO impact (4 charts, 2 searches)

Import them with Kibana's Saved Objects page (Stack Management > Saved
objects > Import) or:
  curl -X POST "$KIBANA_URL/api/saved_objects/_import?overwrite=true" \\
       -H 'kbn-xsrf: true' --form file=@connaudit.ndjson
The same objects are committed as schemas/kibana/connaudit.ndjson.`;

const command: Command = {
  name: 'kibana',
  summary: 'Export the Kibana data views, saved searches and dashboard as NDJSON',
  help,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub !== 'export') throw new UsageError(sub ? `unknown subcommand '${sub}' (only: export)` : 'a subcommand is required: export');
    if (wantsHelp(rest)) {
      process.stdout.write(`${help}\n`);
      return 0;
    }
    const { values } = parse(rest, { out: { type: 'string' } });
    const { savedObjects, toNdjson } = await import('../../schemas/kibana/saved-objects.js');
    const objects = savedObjects();
    const text = toNdjson(objects);
    if (!values.out) {
      process.stdout.write(text);
      return 0;
    }
    try {
      writeFileSync(values.out, text);
    } catch (err) {
      throw new UserError(`cannot write ${values.out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'pick a writable path for --out');
    }
    const by = (t: string): number => objects.filter((o) => o.type === t).length;
    process.stderr.write(`wrote ${resolve(values.out)}: ${by('index-pattern')} data views, ${by('search')} saved searches, ${by('visualization')} visualizations, ${by('dashboard')} dashboard\n`);
    return 0;
  },
};
export default command;
