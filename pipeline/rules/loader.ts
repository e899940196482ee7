import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import type { RuleCategory } from '../../lib/alert.js';
import { compileCondition, NEVER, type CompileCtx } from './condition.js';
import { lookupField, unknownFieldMessage } from './doc-fields.js';
import { parseDuration } from './duration.js';
import { moduleOf, ruleTypeModule } from './engines/registry.js';
import { legacySignature } from './legacy-signature.js';
import { errorAt, readLibrary, type Entry, type Library } from './library.js';
import { shippedRulesDir } from './paths.js';
import type { Raw } from './rule-type.js';
import type { Path } from '../../lib/config-file.js';
import { applyTunes } from './tune.js';
import { ruleLoadError, type Predicate, type RuleCommon, type RuleDef, type RuleError, type RuleSet, type Severity } from './types.js';

// Reads rule files top-down, Falco style: a list or macro must be defined in
// the same or an earlier file (files load in name order, so `_lists.yaml` and
// `_macros.yaml` come first, and layers load in the order given), a later
// definition with the same name replaces the earlier one (that is how a user
// overrides a tuning hook without editing the shipped rule), `append: true`
// extends a list or ORs onto a macro, and a tuning entry changes an earlier
// rule (tune.ts). Every problem is collected, none stops the load: `rules
// validate` lists them all.

export function ruleFiles(pathsOrDir: string | string[]): string[] {
  return layeredFiles(pathsOrDir).map((f) => f.file);
}

/** Every rule file of every layer, in load order, with its layer number. */
function layeredFiles(pathsOrDir: string | string[]): Array<{ file: string; layer: number }> {
  const out: Array<{ file: string; layer: number }> = [];
  const push = (layer: number, ...files: string[]) => out.push(...files.map((file) => ({ file, layer })));
  (Array.isArray(pathsOrDir) ? pathsOrDir : [pathsOrDir]).forEach((p, layer) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      push(layer, p); // reported as unreadable by the loader, with its name
      return;
    }
    if (st.isDirectory()) push(layer, ...readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(p, f)));
    else push(layer, p);
  });
  return out;
}

const real = (p: string): string => {
  try { return realpathSync(p); } catch { return p; }
};

/**
 * The layers to load: the shipped library first (unless `shipped: false`),
 * then the author's folders and files in the order given. A path given twice
 * (or the shipped folder named again) loads once, at its first place.
 */
export function ruleLayers(paths: string[], opts: { shipped?: boolean } = {}): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const p of [...(opts.shipped === false ? [] : [shippedRulesDir()]), ...paths]) {
    const r = real(p);
    if (seen.has(r)) continue;
    seen.add(r);
    out.push(p);
  }
  return out;
}

/** The field-table check for conditions and field-naming keys, reporting at the entry. */
function fieldChecker(fail: (path: Path, message: string) => void): NonNullable<CompileCtx['field']> {
  return (name, path) => {
    const info = lookupField(name);
    if (!info) fail(path, unknownFieldMessage(name));
    return info ?? null;
  };
}

export function loadRuleSet(pathsOrDir: string | string[], opts: { log?: Logger } = {}): { ruleset: RuleSet; errors: RuleError[] } {
  const lib = readLibrary(layeredFiles(pathsOrDir));
  const errors = lib.errors;
  const fail = (e: Entry, path: Path, message: string, key?: string): void => { errors.push(errorAt(e, path, message, key)); };
  const ctxFor = macroCompiler(lib, fail);

  let out: RuleDef[] = [];
  const order = new Map<string, number>();
  const ids = new Map<string, { where: string; layer: number }>();
  for (const e of lib.rules) {
    const before = errors.length;
    const id = e.raw.id as string;
    const first = ids.get(id);
    // The same id twice in one layer is a mistake; in a later layer it replaces
    // the earlier rule whole (a copy of the shipped folder, or one rule rewritten).
    if (first && first.layer === e.layer) fail(e, [e.index, 'id'], `duplicate rule id; first defined at ${first.where}`);
    else ids.set(id, { where: `${e.src.file}:${e.src.position([e.index]).line}`, layer: e.layer });
    const def = compileRule(e, ctxFor(e), (path, message) => fail(e, [e.index, ...path], message), lib);
    if (def && errors.length === before) {
      if (first && first.layer !== e.layer) out = out.filter((r) => r.id !== id);
      out.push(def);
      order.set(def.id, e.seq);
    }
  }
  applyTunes(lib.tunes, out, order, { ctxFor, fail });
  opts.log?.debug({ files: lib.files.length, rules: out.length, errors: errors.length }, 'rule set loaded');
  return { ruleset: { rules: out, files: lib.files, lists: lib.lists }, errors };
}

/**
 * The layered load for commands and the pipeline: the shipped library, then
 * `paths` in order. Any problem throws one ConfigError listing all of them.
 */
export function loadRules(paths: string[], opts: { shipped?: boolean; log?: Logger } = {}): RuleSet {
  const layers = ruleLayers(paths, opts);
  const { ruleset, errors } = loadRuleSet(layers, opts.log ? { log: opts.log } : {});
  if (errors.length) throw ruleLoadError(errors, `connaudit rules validate ${paths.join(' ')}`.trim());
  return ruleset;
}

/** Condition contexts for entries; macros compile on first use (so later overrides apply) and exactly once. */
function macroCompiler(lib: Library, fail: (e: Entry, path: Path, message: string) => void): (e: Entry) => CompileCtx {
  const compiled = new Map<string, Predicate>();
  const compiling = new Set<string>();
  const ctxFor = (e: Entry): CompileCtx => ({
    lists: lib.lists,
    error: (path, message) => fail(e, [e.index, ...path], message),
    field: fieldChecker((path, message) => fail(e, [e.index, ...path], message)),
    macro: (name, path) => {
      const done = compiled.get(name);
      if (done) return done;
      const chain = lib.macros.get(name);
      if (!chain) {
        fail(e, [e.index, ...path], `unknown macro '${name}'; define it with '- macro: ${name}' (shared macros live in the shipped rules/_macros.yaml, which loads first)`);
        return null;
      }
      if (compiling.has(name)) {
        fail(e, [e.index, ...path], `macro '${name}' refers to itself (cycle: ${[...compiling, name].join(' -> ')})`);
        return null;
      }
      compiling.add(name);
      const parts = chain.map((m) => compileCondition(m.raw.condition, ['condition'], ctxFor(m)));
      compiling.delete(name);
      const p = parts.length === 1 ? parts[0]! : anyOf(parts);
      compiled.set(name, p);
      return p;
    },
  });
  for (const [name, chain] of lib.macros) if (!compiled.has(name)) ctxFor(chain[0]!).macro(name, ['macro']);
  return ctxFor;
}

/** OR of predicates, explained by the first that holds (appended macros, exception lists). */
export function anyOf(parts: Predicate[]): Predicate {
  if (parts.length === 0) return NEVER;
  return Object.assign((d: Parameters<Predicate>[0]) => parts.some((x) => x(d)), {
    explain: (d: Parameters<Predicate>[0], o: string[]) => parts.find((x) => x(d))?.explain(d, o),
  });
}

function compileRule(e: Entry, ctx: CompileCtx, fail: (path: Path, message: string) => void, lib: Library): RuleDef | null {
  const r = e.raw;
  const mod = ruleTypeModule(r.type as string);
  if (!mod) return null; // the schema reported the type
  // Keys that name fields are checked against the document's field table; an
  // Elasticsearch alias is read through its target.
  for (const key of mod.fieldKeys) {
    const v = r[key];
    if (v === undefined) continue;
    const names = Array.isArray(v) ? (v as string[]) : [v as string];
    const resolved = names.map((n, i) => ctx.field!(n, Array.isArray(v) ? [key, i] : [key])?.path ?? n);
    r[key] = Array.isArray(v) ? resolved : resolved[0];
  }
  const exceptionList = ((r.exceptions as Raw[] | undefined) ?? []).map((x, i) => compileCondition(x.condition, ['exceptions', i, 'condition'], ctx));
  const threat = r.threat as Raw;
  const common: Omit<RuleCommon, 'type' | 'suppressMs'> = {
    id: r.id as string,
    name: r.rule as string,
    description: r.description as string,
    status: r.status as RuleCommon['status'],
    severity: r.severity as Severity,
    riskScore: r.risk_score as number,
    category: r.category as RuleCategory,
    tactics: (threat.tactic as string[]) ?? [],
    techniques: (threat.technique as string[]) ?? [],
    enabled: r.enabled !== false,
    condition: compileCondition(r.condition, ['condition'], ctx),
    exceptions: anyOf(exceptionList),
    file: e.src.file,
    line: e.src.position([e.index]).line,
    stateSignature: '',
  };
  if (typeof r.note === 'string') common.note = r.note;
  if (r.tests) common.tests = r.tests as RuleCommon['tests'];
  const def = mod.compile(common, {
    raw: r,
    fail,
    duration: (key, dflt) => (r[key] === undefined ? dflt : parseDuration(r[key]) ?? dflt),
    condition: (node, path) => compileCondition(node, path, ctx),
    list: (name) => lib.lists.get(name),
  }) as RuleDef;
  def.stateSignature = legacySignature(r, def) ?? JSON.stringify([def.type, ...moduleOf(def).signature(def)]);
  return def;
}
