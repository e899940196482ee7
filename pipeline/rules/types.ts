import type { RuleCategory } from '../../lib/alert.js';
import type { Cidr } from '../../lib/cidr.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { ConfigError, type Problem } from '../../lib/errors.js';

// The compiled form of a rule set. YAML (schemas/rules.schema.json) is read by
// loader.ts into these shapes; nothing here is ever eval'd.

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export const SEVERITY_SCORE: Record<Severity, number> = { low: 21, medium: 47, high: 73, critical: 99 };

/** A compiled condition: a closure, plus a description used by --explain. */
export interface Predicate {
  (doc: ConnectionDoc): boolean;
  /** The leaf tests that held for `doc`, as readable text ("destination.port in admin_ports (445)"). */
  explain(doc: ConnectionDoc, out: string[]): void;
  /** Every test of the tree with its outcome (for `rules test`'s closest miss); absent on combined predicates. */
  trace?(doc: ConnectionDoc, out: TraceLine[], depth: number): boolean;
  /**
   * Tests that must hold for the predicate to hold: the field's value (its
   * text, or any element's for an array) must be one of `keys`. The stage
   * indexes rules by one of them (rule-index.ts), so a rule whose guard
   * cannot hold is never evaluated.
   */
  guards?: Guard[];
}

/**
 * A test that must hold: the field's value (its text, or any element's for an
 * array) is one of `keys`, or, for a `cidr` guard, an address inside one of
 * `cidrs`.
 */
export type Guard =
  | { /** Document path. */ field: string; keys: Set<string>; cidrs?: undefined }
  | { field: string; cidrs: readonly Cidr[]; keys?: undefined };

/** One test of a condition tree and whether it held on a document. */
export interface TraceLine {
  ok: boolean;
  text: string;
  depth: number;
  /** A field test (the unit "how close was it" counts), not and/or/not/macro. */
  leaf: boolean;
}

/** The trace of any predicate: its own tree, or one line for a combined one. */
export function traceOf(p: Predicate, doc: ConnectionDoc, out: TraceLine[], depth = 0): boolean {
  if (p.trace) return p.trace(doc, out, depth);
  const ok = p(doc);
  out.push({ ok, text: 'condition', depth, leaf: true });
  return ok;
}

/** What every rule has, whatever its type. Each type adds its own parameters (engines/<type>.ts). */
export interface RuleCommon {
  id: string;
  name: string;
  description: string;
  status: 'experimental' | 'test' | 'stable' | 'deprecated';
  severity: Severity;
  riskScore: number;
  category: RuleCategory;
  tactics: string[];
  techniques: string[];
  note?: string;
  type: string;
  enabled: boolean;
  condition: Predicate;
  /** Any exception that holds drops the document before it touches rule state. */
  exceptions: Predicate;
  /** After an alert, the same group stays quiet this long (each type has its own default). */
  suppressMs: number;
  tests?: { positive?: number; negative?: number };
  /** Where the rule was defined, for error messages and `rules test`. */
  file: string;
  line: number;
  /** Tuning entries applied to this rule (file:line), in order. */
  tunedBy?: string[];
  /** Stable text of the parameters that shape state: state survives a reload only if it is unchanged. */
  stateSignature: string;
}

/** A compiled rule: a tagged union over the registered rule types (engines/registry.ts). */
export type RuleDef = import('./engines/registry.js').AnyRule;
export type RuleType = RuleDef['type'];

export interface RuleSet {
  rules: RuleDef[];
  files: string[];
  /** List name -> items, after appends (for --explain and the docs). */
  lists: Map<string, unknown[]>;
}

/** A located problem in a rule file, with the rule it belongs to (Elastic's "<id> - <name> ->" prefix). */
export interface RuleError extends Problem {
  line: number;
  col: number;
  ruleId: string;
  ruleName: string;
}

export function formatRuleError(e: RuleError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.ruleId || '-'} - ${e.ruleName || '-'} -> ${e.message}`;
}

/** Every problem of a rule load as the one user-error type the CLI prints (lib/errors.ts). */
export function ruleLoadError(errors: RuleError[], rerun: string): ConfigError {
  return new ConfigError(
    errors.map((e) => ({ file: e.file, line: e.line, col: e.col, message: `${e.ruleId || '-'} - ${e.ruleName || '-'} -> ${e.message}` })),
    `fix the ${errors.length} rule problem(s) above (check with: ${rerun})`,
  );
}
