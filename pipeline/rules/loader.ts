import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import type { RuleCategory } from '../../lib/alert.js';
import { ALWAYS, compileCondition, NEVER, type CompileCtx } from './condition.js';
import { parseDuration } from './duration.js';
import { rulesValidator, schemaMessage, usefulErrors } from './schema.js';
import { pointerToPath, RuleSource, type Path } from './source.js';
import type { Predicate, RuleDef, RuleError, RuleSet, RuleType, Severity } from './types.js';

// Reads rule files top-down, Falco style: a list or macro must be defined in
// the same or an earlier file (files load in name order, so `_lists.yaml` and
// `_macros.yaml` come first), a later definition with the same name replaces
// the earlier one (that is how a user overrides a tuning hook without editing
// the shipped rule), and `append: true` extends a list. Every problem is
// collected, none stops the load: `rules validate` lists them all.

type Raw = Record<string, unknown>;

interface Entry {
  src: RuleSource;
  index: number;
  raw: Raw;
}

export function ruleFiles(pathsOrDir: string | string[]): string[] {
  const out: string[] = [];
  for (const p of Array.isArray(pathsOrDir) ? pathsOrDir : [pathsOrDir]) {
    let st;
    try {
      st = statSync(p);
    } catch {
      out.push(p); // reported as unreadable by the loader, with its name
      continue;
    }
    if (st.isDirectory()) {
      out.push(...readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(p, f)));
    } else {
      out.push(p);
    }
  }
  return out;
}

export function loadRuleSet(pathsOrDir: string | string[], opts: { log?: Logger } = {}): { ruleset: RuleSet; errors: RuleError[] } {
  const files = ruleFiles(pathsOrDir);
  const errors: RuleError[] = [];
  const lists = new Map<string, unknown[]>();
  const macros = new Map<string, Entry>();
  const rules: Entry[] = [];
  const validate = rulesValidator();

  const fail = (e: Entry | { src: RuleSource; raw?: Raw }, path: Path, message: string, key?: string): void => {
    const pos = e.src.position(path, key);
    const raw = e.raw ?? {};
    const ruleId = typeof raw.id === 'string' ? raw.id : '';
    const ruleName = typeof raw.rule === 'string' ? raw.rule : typeof raw.macro === 'string' ? `macro ${raw.macro}` : typeof raw.list === 'string' ? `list ${raw.list}` : '';
    errors.push({ file: e.src.file, line: pos.line, col: pos.col, ruleId, ruleName, message });
  };

  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      errors.push({ file, line: 1, col: 1, ruleId: '', ruleName: '', message: `cannot read: ${(err as Error).message}` });
      continue;
    }
    const src = new RuleSource(file, text);
    const syntax = src.syntaxErrors();
    if (syntax.length > 0) {
      for (const s of syntax) errors.push({ file, line: s.line, col: s.col, ruleId: '', ruleName: '', message: `YAML: ${s.message}` });
      continue;
    }
    const data = src.doc.toJS() as unknown;
    if (data === null || data === undefined) continue; // an empty file is allowed (a placeholder for overrides)
    const badEntries = new Set<number>();
    if (!validate(data)) {
      for (const e of usefulErrors(validate.errors)) {
        const path = pointerToPath(e.instancePath);
        const idx = typeof path[0] === 'number' ? path[0] : -1;
        badEntries.add(idx);
        const raw = Array.isArray(data) && idx >= 0 ? (data[idx] as Raw) : undefined;
        const key = e.keyword === 'additionalProperties' ? String((e.params as Raw).additionalProperty) : undefined;
        fail({ src, raw: raw && typeof raw === 'object' ? raw : {} }, path, schemaMessage(e), key);
      }
    }
    if (!Array.isArray(data) || badEntries.has(-1)) continue;
    data.forEach((raw, index) => {
      if (badEntries.has(index)) return;
      const entry: Entry = { src, index, raw: raw as Raw };
      if (typeof entry.raw.list === 'string') {
        const items = entry.raw.items as unknown[];
        const prev = lists.get(entry.raw.list);
        if (entry.raw.append === true && !prev) fail(entry, [index, 'list'], `'append: true' but no earlier list named '${entry.raw.list}'`);
        lists.set(entry.raw.list, entry.raw.append === true && prev ? [...prev, ...items] : [...items]);
      } else if (typeof entry.raw.macro === 'string') {
        macros.set(entry.raw.macro, entry);
      } else {
        rules.push(entry);
      }
    });
  }

  // Macros compile on first use (so later overrides apply) and exactly once.
  const compiledMacros = new Map<string, Predicate>();
  const compiling = new Set<string>();
  const ctxFor = (e: Entry): CompileCtx => ({
    lists,
    error: (path, message) => fail(e, [e.index, ...path], message),
    macro: (name, path) => {
      const done = compiledMacros.get(name);
      if (done) return done;
      const m = macros.get(name);
      if (!m) {
        fail(e, [e.index, ...path], `unknown macro '${name}'; define it with '- macro: ${name}' (shared macros live in rules/_macros.yaml)`);
        return null;
      }
      if (compiling.has(name)) {
        fail(e, [e.index, ...path], `macro '${name}' refers to itself (cycle: ${[...compiling, name].join(' -> ')})`);
        return null;
      }
      compiling.add(name);
      const p = compileCondition(m.raw.condition, ['condition'], ctxFor(m));
      compiling.delete(name);
      compiledMacros.set(name, p);
      return p;
    },
  });
  for (const [name, m] of macros) if (!compiledMacros.has(name)) ctxFor(m).macro(name, ['macro']);

  const out: RuleDef[] = [];
  const ids = new Map<string, string>();
  for (const e of rules) {
    const r = e.raw;
    const before = errors.length;
    const ctx = ctxFor(e);
    const id = r.id as string;
    const where = `${e.src.file}:${e.src.position([e.index]).line}`;
    if (ids.has(id)) fail(e, [e.index, 'id'], `duplicate rule id; first defined at ${ids.get(id)}`);
    else ids.set(id, where);
    const type = r.type as RuleType;
    const condition = compileCondition(r.condition, ['condition'], ctx);
    const exceptionList = ((r.exceptions as Raw[] | undefined) ?? []).map((x, i) => compileCondition(x.condition, ['exceptions', i, 'condition'], ctx));
    const exceptions: Predicate = exceptionList.length === 0 ? NEVER : Object.assign((d: Parameters<Predicate>[0]) => exceptionList.some((x) => x(d)), {
      explain: ALWAYS.explain,
    });
    const dur = (key: string, dflt: number): number => (r[key] === undefined ? dflt : parseDuration(r[key]) ?? dflt);
    const windowMs = dur('window', 0);
    const steps = ((r.steps as Raw[] | undefined) ?? []).map((s, i) => compileCondition(s.condition, ['steps', i, 'condition'], ctx));
    let ports = new Set<number>();
    if (r.ports !== undefined) {
      const v = r.ports;
      const items = typeof v === 'object' && v !== null && !Array.isArray(v) ? lists.get(String((v as Raw).list)) : Array.isArray(v) ? v : [v];
      if (!items) fail(e, [e.index, 'ports', 'list'], `unknown list '${String((v as Raw).list)}'`);
      else {
        ports = new Set(items.map(Number));
        if ([...ports].some((p) => !Number.isInteger(p) || p < 0 || p > 65535)) fail(e, [e.index, 'ports'], `ports must be integers 0..65535, got ${JSON.stringify(items)}`);
      }
    }
    const maxspanMs = dur('maxspan', 0);
    const hopMaxspanMs = dur('hop_maxspan', 0);
    const groupBy = (r.group_by as string[] | undefined) ?? [];
    const distinctFields = (r.distinct as string[] | undefined) ?? [];
    const termFields = (r.fields as string[] | undefined) ?? [];
    const joinOn = (r.join_on as string[] | undefined) ?? [];
    if (type === 'threshold' || type === 'value_count') {
      if (windowMs <= 0) fail(e, [e.index, 'window'], 'window must be longer than 0');
    }
    if (type === 'match' && r.suppress !== undefined && groupBy.length === 0) fail(e, [e.index, 'suppress'], 'suppress needs group_by: suppression is per rule and group');
    if (type === 'value_count') {
      const overlap = distinctFields.filter((f) => groupBy.includes(f));
      if (overlap.length) fail(e, [e.index, 'distinct'], `distinct field(s) ${overlap.join(', ')} are also in group_by, so the count can never exceed 1`);
    }
    const defaultSuppress = type === 'sequence' ? maxspanMs : type === 'pivot_chain' ? hopMaxspanMs : windowMs;
    const minHops = (r.min_hops as number | undefined) ?? 2;
    const def: RuleDef = {
      id,
      name: r.rule as string,
      description: r.description as string,
      status: r.status as RuleDef['status'],
      severity: r.severity as Severity,
      riskScore: r.risk_score as number,
      category: r.category as RuleCategory,
      tactics: ((r.threat as Raw).tactic as string[]) ?? [],
      techniques: ((r.threat as Raw).technique as string[]) ?? [],
      type,
      enabled: r.enabled !== false,
      condition,
      exceptions,
      groupBy,
      suppressMs: dur('suppress', defaultSuppress),
      windowMs,
      threshold: (r.threshold as number | undefined) ?? 1,
      distinctFields,
      termFields,
      learningMs: dur('learning_period', 0),
      steps,
      joinOn,
      maxspanMs,
      ports,
      hopMaxspanMs,
      minHops,
      file: e.src.file,
      line: e.src.position([e.index]).line,
      stateSignature: JSON.stringify([type, groupBy, windowMs, r.threshold, distinctFields, termFields, r.learning_period, r.learning_by, joinOn, maxspanMs, [...ports], hopMaxspanMs, minHops, (r.steps as unknown[] | undefined)?.length]),
    };
    if (typeof r.learning_by === 'string') def.learningBy = r.learning_by;
    if (typeof r.note === 'string') def.note = r.note;
    if (r.tests) def.tests = r.tests as RuleDef['tests'];
    if (errors.length === before) out.push(def);
  }
  opts.log?.debug({ files: files.length, rules: out.length, errors: errors.length }, 'rule set loaded');
  return { ruleset: { rules: out, files, lists }, errors };
}
