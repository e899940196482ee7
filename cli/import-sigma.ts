import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parse, UsageError, UserError } from './command.js';
import { formatRuleError, loadRuleSet } from '../pipeline/rules/index.js';
import { importSigma, renderRuleFile, type ImportProblem } from '../pipeline/import/sigma/convert.js';
import { mappingHelp } from '../pipeline/import/sigma/fields.js';

// The command-line face of the Sigma importer (`connaudit rules import-sigma`,
// wired in cli/commands/rules.ts; the converter is pipeline/import/sigma/).
// The converted rules are loaded with the real rule loader before they are
// written, so what it prints is known to load.

export const IMPORT_SIGMA_HELP = `Usage: connaudit rules import-sigma FILE|DIR... [--out DIR]

  Converts Sigma rules (network_connection and firewall logsources; correlation
  rules event_count, value_count, temporal, temporal_ordered) to connaudit rule
  YAML. Each rule that cannot be converted is named as
  file:line: <sigma-id> - <title> -> cannot convert: <reason>; the rest convert.

      --out DIR   write one file per rule (<category>_sigma_<title>.yaml) into DIR;
                  without it, all rules are printed as one YAML rule file on stdout

  Field mapping: ${mappingHelp()}.
  Exit 0 when every Sigma rule converted, 1 when any could not be (the others are
  still written), 2 on a usage error.`;

const fmt = (p: ImportProblem): string => `${p.file}:${p.line}: ${p.sigmaId || '-'} - ${p.title || '-'} -> ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`;

export async function runImportSigma(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { out: { type: 'string' } }, true);
  if (positionals.length === 0) throw new UsageError('import-sigma needs at least one Sigma FILE or DIR');
  for (const p of positionals) if (!existsSync(p)) throw new UserError(`${p} does not exist`, 'pass Sigma rule files (.yml) or a folder of them');
  const res = importSigma(positionals);
  for (const p of res.problems) process.stderr.write(`${fmt(p)}\n`);

  // Prove the output loads before handing it over: render into a scratch
  // folder and run the rule loader on it. A converted rule the loader refuses
  // is reported against its Sigma source and not written; the rest are.
  const scratch = mkdtempSync(join(tmpdir(), 'connaudit-sigma-'));
  try {
    for (const r of res.rules) writeFileSync(join(scratch, r.fileName), renderRuleFile(r));
    const { errors } = loadRuleSet(scratch);
    for (const e of errors) {
      const r = res.rules.find((x) => basename(e.file) === x.fileName);
      if (!r) {
        process.stderr.write(`${formatRuleError(e)}\n`);
        continue;
      }
      process.stderr.write(`${fmt({ file: r.source.file, line: r.source.line, sigmaId: r.source.sigmaId, title: String(r.rule.rule), severity: 'error', message: `cannot convert: the converted rule does not load (${e.message})` })}\n`);
      res.rules = res.rules.filter((x) => x !== r);
      res.failed++;
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  if (values.out) {
    mkdirSync(values.out, { recursive: true });
    for (const r of res.rules) writeFileSync(join(values.out, r.fileName), renderRuleFile(r));
  } else {
    // one rule file: the rule sequences concatenated are one sequence
    process.stdout.write(res.rules.map((r) => renderRuleFile(r)).join(''));
  }
  const warnings = res.problems.filter((p) => p.severity === 'warning').length;
  process.stderr.write(`${res.documents} Sigma document(s): ${res.rules.length} connaudit rule(s) written${values.out ? ` to ${values.out}` : ''}, ${res.failed} not converted, ${warnings} warning(s)\n`);
  return res.failed ? 1 : 0;
}
