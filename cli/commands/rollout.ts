import { parse, UsageError, UserError, wantsHelp, type Command } from '../command.js';

const help = `Usage: connaudit rollout report [--from TIME] [--to TIME] [--json]
       connaudit rollout plan --rollout FILE [--node-group NAME]

report  compares the sensor's own cost across node groups, from the agent
        health reports in connaudit-agent-health: hosts, profile, agent CPU
        (average, max, and per 1000 events/s), RSS, events/s, the costliest
        BPF program's ns per run, ring-buffer drops and spool discards.
        Profile one small node group, read this, then widen.
  --from TIME   start (Elasticsearch date math or ISO time; default now-1h)
  --to TIME     end (default now)
  --json        the same as JSON on stdout
plan    shows what the central rollout plan decides for a node group (or
        for every group it lists): enabled or not, and the profile.
Elasticsearch comes from ES_URL / ES_API_KEY / ES_USERNAME+ES_PASSWORD.`;

async function report(argv: string[]): Promise<number> {
  const { values } = parse(argv, { from: { type: 'string', default: 'now-1h' }, to: { type: 'string', default: 'now' }, json: { type: 'boolean' } });
  const { Client } = await import('@elastic/elasticsearch');
  const { esClientOptions, describeEndpoints } = await import('../../lib/connect.js');
  const { formatReport, rolloutReport } = await import('../../pipeline/rollout-report.js');
  const es = new Client(esClientOptions());
  try {
    const r = await rolloutReport(es, values.from, values.to);
    process.stdout.write(values.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatReport(r)}\n`);
    return 0;
  } catch (err) {
    const e = err as { meta?: { statusCode?: number; body?: { error?: { type?: string; reason?: string } } }; message: string };
    if (e.meta?.body?.error?.type === 'index_not_found_exception') {
      throw new UserError('no connaudit-agent-health index yet', 'start the pipeline (it creates the index) and at least one agent, then run the report again');
    }
    throw new UserError(`the report query failed: ${e.meta?.body?.error?.reason ?? e.message}`,
      `check ES_URL and credentials (${JSON.stringify(describeEndpoints())}); --from/--to take Elasticsearch date math such as now-6h`);
  } finally {
    await es.close();
  }
}

async function plan(argv: string[]): Promise<number> {
  const { values } = parse(argv, { rollout: { type: 'string' }, 'node-group': { type: 'string' } });
  if (!values.rollout) throw new UsageError('--rollout FILE is required (the central plan, schemas/rollout.schema.json)');
  const { decide, loadRollout, PROFILES } = await import('../../lib/rollout.js');
  const p = loadRollout(values.rollout);
  const groups = values['node-group'] !== undefined ? [values['node-group']] : Object.keys(p.node_groups);
  for (const g of groups) {
    const d = decide(p, g);
    process.stdout.write(`${g.padEnd(20)} ${d.enabled ? `enabled, profile ${d.profile}: ${PROFILES[d.profile].description}` : 'disabled'}  [${d.reason}]\n`);
  }
  if (values['node-group'] === undefined) {
    const d = decide(p, '\u0000unlisted');
    process.stdout.write(`${'(any other group)'.padEnd(20)} ${d.enabled ? `enabled, profile ${d.profile}` : 'disabled'}\n`);
  }
  return 0;
}

const command: Command = {
  name: 'rollout',
  summary: 'Compare the sensor\'s cost across node groups (report), or show the central rollout plan (plan)',
  help,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub !== 'report' && sub !== 'plan') throw new UsageError(sub ? `unknown subcommand '${sub}' (report or plan)` : 'a subcommand is required: report or plan');
    if (wantsHelp(rest)) {
      process.stdout.write(`${help}\n`);
      return 0;
    }
    return sub === 'report' ? report(rest) : plan(rest);
  },
};
export default command;
