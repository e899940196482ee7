import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse, UsageError, UserError, wantsHelp, type Command } from '../command.js';

const help = `Usage: connaudit kibana export [--out FILE]
       connaudit kibana import --url URL [--space ID] [--no-overwrite]

export  writes connaudit's Kibana saved objects as NDJSON (stdout unless --out):
  data views   connaudit-connections*, -alerts*, -slo*, -agent-health*
  searches     the rows behind each chart (unexpected outbound by process,
               timed-out connections, retry-storm alerts, resets by node group, ...)
  Lens         charts and tables for each dashboard
  dashboards   one per seed question: unexpected outbound by process; which
               destinations time out most; retry storms on the same node; does
               the close rate climb at certain hours; SLO impact by node group;
               sensor cost by node group; plus an overview
The same objects are committed as schemas/kibana/connaudit.ndjson. They
carry coreMigrationVersion/typeMigrationVersion, so Kibana 8.19 and 9.x
migrate them on import like any older export.

import  posts them to Kibana's POST /api/saved_objects/_import and prints one
line per object (imported, or Kibana's reason). Exit code 1 if any failed.
  --url URL        Kibana's base URL, e.g. https://kibana.example:5601
  --space ID       a Kibana space other than the default
  --no-overwrite   keep objects that already exist (reported as conflicts)
Credentials come from the environment (never from flags):
  KIBANA_API_KEY                    base64 "id:key" API key, or
  KIBANA_USERNAME / KIBANA_PASSWORD basic auth
For a private CA set NODE_EXTRA_CA_CERTS=/path/ca.pem.`;

async function exportObjects(rest: string[]): Promise<number> {
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
  process.stderr.write(`wrote ${resolve(values.out)}: ${by('index-pattern')} data views, ${by('search')} saved searches, ${by('lens')} Lens visualizations, ${by('dashboard')} dashboards\n`);
  return 0;
}

async function importObjects(rest: string[]): Promise<number> {
  const { values } = parse(rest, { url: { type: 'string' }, space: { type: 'string' }, 'no-overwrite': { type: 'boolean' } });
  if (!values.url) throw new UsageError('--url is required: Kibana\'s base URL, e.g. https://kibana.example:5601');
  const { savedObjects, toNdjson } = await import('../../schemas/kibana/saved-objects.js');
  const { KIBANA_FORMAT } = await import('../../schemas/kibana/lens.js');
  const { kibanaAuthFromEnv, objectResults, postImport } = await import('../../schemas/kibana/import.js');
  const objects = savedObjects();
  const auth = kibanaAuthFromEnv();
  let res: Awaited<ReturnType<typeof postImport>>;
  try {
    res = await postImport({ url: values.url, space: values.space, overwrite: !values['no-overwrite'], auth, ndjson: toNdjson(objects) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new UserError(`cannot reach Kibana at ${values.url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
      'check --url (scheme, host, port) and that Kibana is up; for a private CA set NODE_EXTRA_CA_CERTS');
  }
  if (res.status === 401 || res.status === 403) {
    throw new UserError(`Kibana refused the import (${res.status}): ${typeof res.body === 'string' ? res.body : JSON.stringify(res.body)}`,
      auth.apiKey || auth.username ? 'the credentials lack the saved-objects privilege in this space; use a role with Kibana "All" on Saved Objects Management'
        : 'set KIBANA_API_KEY, or KIBANA_USERNAME and KIBANA_PASSWORD');
  }
  if (res.status !== 200 || typeof res.body === 'string') {
    throw new UserError(`Kibana answered ${res.status} to the import: ${typeof res.body === 'string' ? res.body.slice(0, 500) : JSON.stringify(res.body)}`,
      `is ${values.url} Kibana (not Elasticsearch)? The objects are stated for Kibana ${KIBANA_FORMAT.targets.join(' and ')}`);
  }
  const results = objectResults(objects.map((o) => ({ type: o.type, id: o.id, title: String(o.attributes.title) })), res.body);
  for (const r of results) process.stdout.write(`${r.ok ? 'ok    ' : 'FAILED'} ${r.type.padEnd(13)} ${r.id.padEnd(48)} ${r.detail}  (${r.title})\n`);
  const failed = results.filter((r) => !r.ok).length;
  process.stdout.write(`${results.length - failed} imported, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

const command: Command = {
  name: 'kibana',
  summary: 'Export or import the Kibana data views, searches, Lens charts and dashboards',
  help,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub !== 'export' && sub !== 'import') throw new UsageError(sub ? `unknown subcommand '${sub}' (export or import)` : 'a subcommand is required: export or import');
    if (wantsHelp(rest)) {
      process.stdout.write(`${help}\n`);
      return 0;
    }
    return sub === 'export' ? exportObjects(rest) : importObjects(rest);
  },
};
export default command;
