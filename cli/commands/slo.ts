import { createWriteStream } from 'node:fs';
import { parse, UsageError, wantsHelp, type Command } from '../command.js';

const help = `Usage: connaudit slo <subcommand> [options]

Subcommands:
  validate [CATALOGUE]     check a service catalogue (default config/services.yaml)
                           against schemas/services.schema.json; every problem
                           is printed as file:line:col: field: message
  storm [--out FILE] [--start ISO] [--storm-minutes N] [--seed N]
                           write the seed's example as JSONL connection
                           documents: pool-b's calls from the order service to
                           inventory get slow connects, retransmits and resets
                           while pool-a and pool-c stay healthy (matches
                           config/services.yaml). Feed it to 'connaudit agent
                           --replay', 'connaudit rules backtest --services' or
                           'connaudit report --input'.

Run 'connaudit slo <subcommand> --help' for one subcommand.`;

const validateHelp = `Usage: connaudit slo validate [CATALOGUE.yaml]

Checks a service catalogue against schemas/services.schema.json and the
cross-references (dependencies name services, CIDRs parse). Prints one line
per service with its SLOs, or every problem as file:line:col: field: message.`;

const stormHelp = `Usage: connaudit slo storm [--out FILE] [--start ISO] [--baseline-minutes N]
                          [--storm-minutes N] [--after-minutes N] [--seed N]

Writes the generated storm as JSONL (stdout unless --out), one nested ECS
connection document per line, sorted by @timestamp. Deterministic for a seed.
A summary (documents, storm start and end) goes to stderr.`;

async function validate(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(`${validateHelp}\n`);
    return 0;
  }
  const { positionals } = parse(argv, {}, true);
  const path = positionals[0] ?? 'config/services.yaml';
  const { loadCatalogue } = await import('../../pipeline/slo/catalogue.js');
  // A bad catalogue throws CatalogueError, a UserError: cli/main.ts prints each problem's file:line:col and the hint.
  const cat = loadCatalogue(path);
  for (const s of cat.services) {
    process.stdout.write(`${s.name}: ${s.slos.map((x) => `${x.name} ${x.type} ${x.objective}%/${x.period}`).join(', ') || 'no SLOs'}\n`);
  }
  process.stdout.write(`${path}: ok, ${cat.services.length} services, ${cat.nodeGroups.length} node groups\n`);
  return 0;
}

async function storm(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(`${stormHelp}\n`);
    return 0;
  }
  const { values } = parse(argv, {
    out: { type: 'string' },
    start: { type: 'string' },
    'baseline-minutes': { type: 'string' },
    'storm-minutes': { type: 'string' },
    'after-minutes': { type: 'string' },
    seed: { type: 'string' },
  });
  const int = (v: string | undefined, flag: string): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a whole number, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  if (values.start !== undefined && Number.isNaN(Date.parse(values.start))) throw new UsageError(`--start must be an ISO-8601 time, got ${JSON.stringify(values.start)}`);
  const { generateStorm } = await import('../../tools/gen/slo-storm.js');
  const opts: Parameters<typeof generateStorm>[0] = {};
  if (values.start !== undefined) opts.start = values.start;
  const b = int(values['baseline-minutes'], '--baseline-minutes');
  const s = int(values['storm-minutes'], '--storm-minutes');
  const a = int(values['after-minutes'], '--after-minutes');
  const seed = int(values.seed, '--seed');
  if (b !== undefined) opts.baselineMinutes = b;
  if (s !== undefined) opts.stormMinutes = s;
  if (a !== undefined) opts.afterMinutes = a;
  if (seed !== undefined) opts.seed = seed;
  const st = generateStorm(opts);
  const out = values.out ? createWriteStream(values.out) : process.stdout;
  for (const d of st.docs) out.write(`${JSON.stringify(d)}\n`);
  if (values.out) await new Promise<void>((res, rej) => (out as ReturnType<typeof createWriteStream>).end((err?: Error | null) => (err ? rej(err) : res())));
  process.stderr.write(`storm: ${st.docs.length} documents ${st.from} .. ${st.to}; ${st.badGroup} -> ${st.upstream} degraded ${st.stormStart} .. ${st.stormEnd}\n`);
  return 0;
}

const command: Command = {
  name: 'slo',
  summary: 'Service catalogue and SLO tools: validate a catalogue, generate the storm example',
  help,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === 'validate') return validate(rest);
    if (sub === 'storm') return storm(rest);
    throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'a subcommand is required (validate, storm)');
  },
};
export default command;
