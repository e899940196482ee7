import { existsSync, statSync } from 'node:fs';
import { parse, UsageError, UserError, wantsHelp, type Command } from '../command.js';

// `connaudit rules`: the rule author's loop. validate -> test -> backtest.
// Modules load lazily so `connaudit --help` stays fast.

const HELP = `Usage: connaudit rules <validate|test|backtest|fields|schema|import-sigma> [options]

  validate [PATHS...]      Check rule files against schemas/rules.schema.json and
                           compile them: every field against the connection
                           document's fields, every value against its type. Prints
                           every problem as file:line:col: <rule-id> - <name> -> message.
                           Exit 1 if any.
  test [PATHS...]          Run each rule on its fixtures (<rule>.fixtures/positive.jsonl
                           and negative.jsonl, expected counts in the rule's tests:) and
                           all rules on the benign corpus; print a per-rule table, and
                           for a failing fixture the expected and actual alerts and why
                           the closest miss did not match (the --explain trace).
                           With PATHS, only the rules defined (or tuned) there are tested.
      --benign DIR         benign corpus (default: test/fixtures/benign of connaudit)
  fields                   List the document fields a rule may name, with their
                           type and allowed values.
  schema [--write]         Print the rule-file JSON Schema generated from the rule
                           types (--write: refresh schemas/rules.schema.json).
  backtest --input FILE    Replay JSONL of ECS connection docs (agent --output jsonl)
                           or an Avro container file through the rules; alerts as
                           JSONL on stdout, progress and a summary on stderr.
      --rules PATH         a rule folder or file loaded after the shipped library;
                           repeat it to add layers in order (default: ./rules if present)
      --services FILE      service catalogue: enrich service.name and run the SLO stage
                           before the rules, as the pipeline does
      --config FILE        pipeline config (zones, internal_cidrs, node_groups) for enrichment
      --explain            keep connaudit.alert.explain and print why each alert fired (stderr)
      --diff OTHER_DIR     print the alerts OTHER_DIR's rules add (+) or remove (-)
                           compared with --rules, as JSONL {change, alert}

  import-sigma FILE|DIR...  Convert Sigma rules to connaudit YAML (--out DIR);
                           see connaudit rules import-sigma --help

Layers: the shipped library loads first, then PATHS (or each --rules) in the
order given, each folder's files in name order (_lists.yaml, _macros.yaml first).
A later layer can use the shipped lists and macros, replace or append to them,
and tune a shipped rule without editing it. --no-shipped loads only what you name.
PATHS default to ./rules (or the shipped rules). Guide: rules/README.md.`;

const SHIPPED = { 'no-shipped': { type: 'boolean' } } as const;

/** The rule layers a command loads: the shipped library, then what the user named. */
async function layers(named: string[], noShipped: boolean | undefined): Promise<string[]> {
  const { ruleLayers } = await import('../../pipeline/rules/index.js');
  const { defaultRulesDir } = await import('../../pipeline/rules/paths.js');
  return ruleLayers(named.length ? named : [defaultRulesDir()], { shipped: !noShipped });
}

async function validate(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...SHIPPED }, true);
  const { loadRuleSet, formatRuleError } = await import('../../pipeline/rules/index.js');
  const { ruleset, errors } = loadRuleSet(await layers(positionals, values['no-shipped']));
  for (const e of errors) process.stdout.write(`${formatRuleError(e)}\n`);
  process.stderr.write(`${ruleset.files.length} file(s), ${ruleset.rules.length} valid rule(s), ${errors.length} problem(s)\n`);
  return errors.length ? 1 : 0;
}

async function test(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { benign: { type: 'string' }, ...SHIPPED }, true);
  const { loadRuleSet, formatRuleError } = await import('../../pipeline/rules/index.js');
  const { defaultBenignDir } = await import('../../pipeline/rules/paths.js');
  const { formatTable, runRuleTests, definedIn } = await import('../../pipeline/rules/fixtures.js');
  const { ruleset, errors } = loadRuleSet(await layers(positionals, values['no-shipped']));
  for (const e of errors) process.stdout.write(`${formatRuleError(e)}\n`);
  const benign = values.benign ?? defaultBenignDir();
  if (values.benign && !existsSync(values.benign)) throw new UserError(`benign corpus ${values.benign} does not exist`, 'pass --benign DIR with *.jsonl files of normal traffic');
  const only = positionals.length ? definedIn(positionals) : undefined;
  const { rows, benignFiles, benignDocs } = runRuleTests(ruleset, benign, only);
  process.stdout.write(`${formatTable(rows)}\n`);
  const failed = rows.filter((r) => !r.pass);
  for (const r of failed) for (const p of r.problems) process.stdout.write(`${r.id} - ${r.name} -> ${p}\n`);
  process.stdout.write(`${rows.length} rule(s): ${rows.length - failed.length} passed, ${failed.length} failed; benign corpus: ${benignFiles.length} file(s), ${benignDocs} event(s); ${errors.length} load problem(s)\n`);
  return failed.length || errors.length ? 1 : 0;
}

async function backtest(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    input: { type: 'string' }, rules: { type: 'string', multiple: true }, services: { type: 'string' }, config: { type: 'string' },
    explain: { type: 'boolean' }, diff: { type: 'string' }, ...SHIPPED,
  });
  if (!values.input) throw new UsageError('--input FILE is required');
  if (!existsSync(values.input)) throw new UserError(`input ${values.input} does not exist`, 'pass a JSONL file from `connaudit agent --output jsonl` or an Avro container file');
  const { loadRuleSet, ruleLoadError, createRuleStage } = await import('../../pipeline/rules/index.js');
  const { readDocs, InputError } = await import('../../pipeline/rules/input.js');
  const { runBacktest } = await import('../../pipeline/rules/backtest.js');
  const { createEnricher } = await import('../../pipeline/enrich/enrich.js');

  const load = async (named: string[]) => {
    const r = loadRuleSet(await layers(named, values['no-shipped']));
    if (r.errors.length) throw ruleLoadError(r.errors, `connaudit rules validate ${named.join(' ')}`.trim());
    return r.ruleset;
  };
  const rulesPath = (values.rules ?? []).join(' + ') || 'the shipped rules';
  const stages = [];
  let cfg = {};
  if (values.config) {
    const { loadConfig } = await import('../../pipeline/enrich/config.js');
    cfg = loadConfig(values.config);
  }
  let lookup;
  if (values.services) {
    const { loadServiceLookup } = await import('../../pipeline/enrich/catalogue-lookup.js');
    const { createSloStage } = await import('../../pipeline/slo/index.js');
    const loaded = await loadServiceLookup(values.services);
    lookup = loaded.lookup;
    stages.push(createSloStage(loaded.catalogue as Parameters<typeof createSloStage>[0]));
  }
  const enrich = createEnricher(cfg, lookup);
  const alwaysEnrich = Boolean(values.config || values.services);
  // Documents from the pipeline or the fixtures are already enriched; raw agent output is not.
  const prepare = (d: Parameters<typeof enrich>[0]) => {
    if (alwaysEnrich || d.connaudit.destination_external === undefined) enrich(d);
  };
  stages.push(createRuleStage(await load(values.rules ?? [])));
  const other = values.diff ? createRuleStage(await load([values.diff])) : null;

  const total = statSync(values.input).size;
  const tty = process.stderr.isTTY;
  let lastPct = -1;
  const progress = (read: number, size: number) => {
    if (size < 5_000_000) return;
    const pct = Math.floor((read / size) * 100);
    if (pct === lastPct || (!tty && pct % 10 !== 0)) return;
    lastPct = pct;
    const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, '.');
    process.stderr.write(tty ? `\r[${bar}] ${pct}%` : `[${bar}] ${pct}%\n`);
  };

  const base = new Map<string, unknown>();
  const alt = new Map<string, unknown>();
  const write = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const show = (a: { rule: { name: string }; connaudit: { alert: { explain?: string } } } & Record<string, unknown>) => {
    if (values.explain) process.stderr.write(`explain: ${a.connaudit.alert.explain ?? ''}\n`);
    else delete a.connaudit.alert.explain;
  };
  const docsWithDiff = async function* () {
    for await (const d of readDocs(values.input!, progress)) {
      if (other) for (const a of other.process(structuredClone(d))) alt.set(a.event.id, a);
      yield d;
    }
    if (other) for (const a of other.tick?.(Number.MAX_SAFE_INTEGER) ?? []) alt.set(a.event.id, a);
  };
  let res;
  try {
    res = await runBacktest(docsWithDiff(), prepare, stages, (a) => {
      show(a);
      if (other) base.set(a.event.id, a);
      else write(a);
    });
  } catch (err) {
    if (err instanceof InputError) throw new UserError(err.message, 'each line must be one nested ECS connection document (connaudit agent --output jsonl)');
    throw err;
  }
  if (tty && total >= 5_000_000) process.stderr.write('\n');
  if (other) {
    let added = 0;
    let removed = 0;
    for (const [id, a] of alt) if (!base.has(id)) { added++; write({ change: '+', alert: a }); }
    for (const [id, a] of base) if (!alt.has(id)) { removed++; write({ change: '-', alert: a }); }
    process.stderr.write(`diff: ${values.diff} adds ${added} and removes ${removed} alert(s) compared with ${rulesPath} (${base.size} -> ${alt.size})\n`);
  }
  const rate = res.elapsedMs > 0 ? Math.round(res.events / (res.elapsedMs / 1000)) : res.events;
  process.stderr.write(`backtest: ${res.events} events, ${res.alerts} alerts, ${(res.elapsedMs / 1000).toFixed(1)} s, ${rate} events/s\n`);
  return 0;
}

async function fields(): Promise<number> {
  const { allFields } = await import('../../pipeline/rules/doc-fields.js');
  for (const [name, f] of allFields()) {
    const extra = f.allowed ? ` one of ${f.allowed.join(', ')}` : f.port ? ' 0..65535' : '';
    process.stdout.write(`${name.padEnd(36)} ${f.type}${name !== f.path ? ` (alias of ${f.path})` : ''}${extra}\n`);
  }
  process.stdout.write(`${'labels.<key>'.padEnd(36)} keyword\n`);
  return 0;
}

async function schema(argv: string[]): Promise<number> {
  const { values } = parse(argv, { write: { type: 'boolean' } });
  const { buildRulesSchema, rulesSchemaPath } = await import('../../pipeline/rules/schema.js');
  const text = `${JSON.stringify(buildRulesSchema(), null, 2)}\n`;
  if (!values.write) {
    process.stdout.write(text);
    return 0;
  }
  const { writeFileSync } = await import('node:fs');
  writeFileSync(rulesSchemaPath(), text);
  process.stderr.write(`wrote ${rulesSchemaPath()}\n`);
  return 0;
}

const command: Command = {
  name: 'rules',
  summary: 'Validate, test and backtest detection rules (YAML)',
  help: HELP,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (!sub) throw new UsageError('missing subcommand: validate, test, backtest, fields, schema or import-sigma');
    if (sub === 'import-sigma') {
      const { runImportSigma, IMPORT_SIGMA_HELP } = await import('../import-sigma.js');
      if (wantsHelp(rest)) { process.stdout.write(`${IMPORT_SIGMA_HELP}\n`); return 0; }
      return runImportSigma(rest);
    }
    if (wantsHelp(rest)) {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    switch (sub) {
      case 'validate': return validate(rest);
      case 'test': return test(rest);
      case 'backtest': return backtest(rest);
      case 'schema': return schema(rest);
      case 'fields': return fields();
      default: throw new UsageError(`unknown subcommand '${sub}': use validate, test, backtest, fields, schema or import-sigma`);
    }
  },
};
export default command;
