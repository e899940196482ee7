import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Document, LineCounter, parseAllDocuments, visit, type Document as YamlDocument } from 'yaml';
import { convertCondition } from './condition.js';
import { convertCorrelation, type Correlation, type Referenced } from './correlation.js';
import { convertSelection, Unconvertible, type Cond, type ConvertCtx, type Path } from './detection.js';
import { ruleHead, type SigmaMeta } from './meta.js';

// `connaudit rules import-sigma`: reads Sigma rule files (one rule per YAML
// document; a correlation and the rules it refers to may share a file), and
// converts each into connaudit rule YAML. Every rule that cannot be converted
// is named with file:line and the reason, and the rest still convert.

export interface ImportProblem {
  file: string;
  line: number;
  sigmaId: string;
  title: string;
  severity: 'error' | 'warning';
  message: string;
}

export interface ConvertedRule {
  /** suggested file name: <category>_sigma_<title>.yaml */
  fileName: string;
  source: { file: string; line: number; sigmaId: string };
  rule: Record<string, unknown>;
}

export interface ImportResult {
  rules: ConvertedRule[];
  problems: ImportProblem[];
  /** Sigma documents read (detection and correlation rules) */
  documents: number;
  /** Sigma documents that could not be converted (each has one error in `problems`) */
  failed: number;
}

interface SigmaDoc {
  file: string;
  doc: YamlDocument;
  lines: LineCounter;
  data: Record<string, unknown>;
  line: number;
}

interface Base {
  d: SigmaDoc;
  cond?: Cond;
  error?: string;
  referenced: boolean;
}

const SOURCE_CATEGORIES = new Set(['network_connection', 'firewall']);

export function sigmaFiles(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) {
      for (const f of readdirSync(p).sort()) {
        const full = join(p, f);
        if (statSync(full).isDirectory()) out.push(...sigmaFiles([full]));
        else if (/\.ya?ml$/.test(f)) out.push(full);
      }
    } else {
      out.push(p);
    }
  }
  return out;
}

function lineOf(d: SigmaDoc, path: Path): number {
  for (let n = path.length; n >= 0; n--) {
    const node = d.doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return d.lines.linePos(node.range[0]).line;
  }
  return d.line;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '').slice(0, 60) || 'rule';
}

export function importSigma(paths: string[]): ImportResult {
  const problems: ImportProblem[] = [];
  const docs: SigmaDoc[] = [];
  const report = (d: SigmaDoc | { file: string; line: number; data?: Record<string, unknown> }, severity: ImportProblem['severity'], message: string, path: Path = []): void => {
    const line = 'doc' in d ? lineOf(d, path) : d.line;
    problems.push({ file: d.file, line, sigmaId: str(d.data?.id), title: str(d.data?.title), severity, message });
  };

  for (const file of sigmaFiles(paths)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      report({ file, line: 1 }, 'error', `cannot read: ${(err as Error).message}`);
      continue;
    }
    const lines = new LineCounter();
    for (const doc of parseAllDocuments(text, { lineCounter: lines }) as YamlDocument[]) {
      const line = doc.contents?.range ? lines.linePos(doc.contents.range[0]).line : 1;
      if (doc.errors.length) {
        const e = doc.errors[0]!;
        report({ file, line: e.linePos?.[0]?.line ?? line }, 'error', `YAML: ${e.message.split('\n')[0]}`);
        continue;
      }
      const data = doc.toJS() as unknown;
      if (data === null || data === undefined) continue;
      if (typeof data !== 'object' || Array.isArray(data)) {
        report({ file, line }, 'error', 'a Sigma rule is a YAML map');
        continue;
      }
      docs.push({ file, doc, lines, data: data as Record<string, unknown>, line });
    }
  }

  const warnCtx = (d: SigmaDoc): ConvertCtx => ({ warn: (m, p) => report(d, 'warning', m, p) });
  const bases: Base[] = [];
  const correlations: SigmaDoc[] = [];
  for (const d of docs) {
    if ('action' in d.data) {
      report(d, 'error', 'cannot convert: Sigma rule collections (action: global/reset/repeat) are not supported; write each rule as a complete document', ['action']);
      continue;
    }
    if ('correlation' in d.data) correlations.push(d);
    else if ('detection' in d.data) bases.push(convertBase(d, warnCtx(d)));
    else report(d, 'error', 'cannot convert: neither a detection nor a correlation rule');
  }

  const byRef = new Map<string, Base>();
  for (const b of bases) {
    for (const k of [b.d.data.id, b.d.data.name]) if (typeof k === 'string') byRef.set(k, b);
  }

  const rules: ConvertedRule[] = [];
  const emit = (d: SigmaDoc, suffix: string, params: Record<string, unknown>, extraTags: string[] = []): void => {
    const head = ruleHead(d.data as SigmaMeta, d.file, suffix, extraTags);
    const rule = { ...head, ...params, tests: { positive: 1, negative: 0 } };
    rules.push({ fileName: `${head.category}_sigma_${slug(head.rule)}.yaml`, source: { file: d.file, line: d.line, sigmaId: str(d.data.id) }, rule });
  };

  const convertedCorrelations = new Set<SigmaDoc>();
  for (const c of correlations) {
    const corr = c.data.correlation as Correlation;
    try {
      const names = Array.isArray(corr?.rules) ? corr.rules : null;
      if (!names || names.length === 0) throw new Unconvertible('correlation.rules must list the rules it correlates', ['correlation', 'rules']);
      const refs: Referenced[] = names.map((n, i) => {
        const b = byRef.get(String(n));
        if (!b) {
          const isCorr = correlations.some((o) => o.data.id === n || o.data.name === n);
          throw new Unconvertible(isCorr ? `refers to correlation ${String(n)}: chained correlations are not supported` : `refers to rule ${String(n)}, which is not among the files imported (pass its file too)`, ['correlation', 'rules', i]);
        }
        b.referenced = true;
        if (!b.cond) throw new Unconvertible(`refers to rule ${String(n)}, which could not be converted: ${b.error ?? 'unknown reason'}`, ['correlation', 'rules', i]);
        return { ref: String(n), cond: b.cond };
      });
      const extraTags = [...new Set(refs.flatMap((r) => (Array.isArray(byRef.get(r.ref)!.d.data.tags) ? (byRef.get(r.ref)!.d.data.tags as string[]) : [])))];
      for (const body of convertCorrelation(corr, refs, ['correlation'])) emit(c, body.suffix, body.params, extraTags);
      convertedCorrelations.add(c);
    } catch (err) {
      if (!(err instanceof Unconvertible)) throw err;
      report(c, 'error', `cannot convert: ${err.message}`, err.path);
    }
  }

  for (const b of bases) {
    // Rules a correlation refers to are its building blocks; Sigma emits them
    // on their own only with `generate: true` on the correlation.
    const generate = correlations.some((c) => c.data.generate === true && refersTo(c, b));
    if (b.referenced && !generate) {
      const users = correlations.filter((c) => refersTo(c, b));
      if (b.cond && !users.some((c) => convertedCorrelations.has(c))) report(b.d, 'warning', `not written: it is only a building block of ${users.map((c) => `'${str(c.data.title)}'`).join(', ')}, which could not be converted (set generate: true on the correlation to get it on its own)`);
      continue;
    }
    if (!b.cond) continue; // reported by convertBase
    emit(b.d, '', { type: 'match', condition: b.cond });
  }
  const seen = new Map<string, number>();
  for (const r of rules) {
    const n = (seen.get(r.fileName) ?? 0) + 1;
    seen.set(r.fileName, n);
    if (n > 1) r.fileName = r.fileName.replace(/\.yaml$/, `_${String(r.rule.id).slice(0, 8)}.yaml`);
  }
  // each Sigma document that fails reports exactly one error
  return { rules, problems, documents: docs.length, failed: problems.filter((p) => p.severity === 'error').length };

  function refersTo(c: SigmaDoc, b: Base): boolean {
    const names = (c.data.correlation as Correlation | undefined)?.rules;
    return Array.isArray(names) && names.some((n) => n === b.d.data.id || n === b.d.data.name);
  }

  function convertBase(d: SigmaDoc, ctx: ConvertCtx): Base {
    const b: Base = { d, referenced: false };
    try {
      const ls = d.data.logsource as Record<string, unknown> | undefined;
      const category = str(ls?.category);
      const product = str(ls?.product);
      if (!SOURCE_CATEGORIES.has(category)) throw new Unconvertible(`logsource category '${category || '(none)'}' is not a connection source; connaudit converts network_connection and firewall rules`, ['logsource']);
      if (product && product !== 'linux') throw new Unconvertible(`logsource product '${product}': connaudit records Linux hosts`, ['logsource', 'product']);
      if (d.data.status === 'unsupported') throw new Unconvertible('status: unsupported (Sigma marks the rule as not usable as it stands)', ['status']);
      const det = d.data.detection as Record<string, unknown> | undefined;
      if (!det || typeof det !== 'object') throw new Unconvertible('detection must be a map', ['detection']);
      if ('timeframe' in det) throw new Unconvertible('detection.timeframe belongs to the deprecated aggregation syntax; write a correlation rule instead', ['detection', 'timeframe']);
      const selections = new Map<string, Cond>();
      for (const [k, v] of Object.entries(det)) if (k !== 'condition') selections.set(k, convertSelection(v, ['detection', k], ctx));
      const cond = det.condition;
      const texts = Array.isArray(cond) ? cond : [cond];
      if (texts.length === 0 || texts.some((t) => typeof t !== 'string')) throw new Unconvertible('detection.condition must be an expression string', ['detection', 'condition']);
      const parts = texts.map((t) => convertCondition(t as string, selections, ['detection', 'condition']));
      b.cond = parts.length === 1 ? parts[0]! : { or: parts };
    } catch (err) {
      if (!(err instanceof Unconvertible)) throw err;
      b.error = err.message;
      report(d, 'error', `cannot convert: ${err.message}`, err.path);
    }
    return b;
  }
}

/** One converted rule as a connaudit rule file (a one-rule YAML sequence), field tests in flow style as in the shipped rules. */
export function renderRuleFile(r: ConvertedRule): string {
  const doc = new Document([r.rule]);
  visit(doc, {
    Map(_k, node) {
      if (node.has('field') || node.has('tactic') || node.has('positive')) node.flow = true;
    },
  });
  const head = `# Converted by \`connaudit rules import-sigma\` from ${basename(r.source.file)}:${r.source.line}` +
    `${r.source.sigmaId ? ` (Sigma id ${r.source.sigmaId})` : ''}.\n# Add evidence beside it in ${r.fileName.replace(/\.yaml$/, '.fixtures')}/positive.jsonl and negative.jsonl.\n`;
  return head + doc.toString({ lineWidth: 0 });
}
