import type { RuleCategory } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';

// The compiled form of a rule set. YAML (schemas/rules.schema.json) is read by
// loader.ts into these shapes; nothing here is ever eval'd.

export type RuleType = 'match' | 'threshold' | 'value_count' | 'new_terms' | 'sequence' | 'pivot_chain';
export type Severity = 'low' | 'medium' | 'high' | 'critical';
export const SEVERITY_SCORE: Record<Severity, number> = { low: 21, medium: 47, high: 73, critical: 99 };

/** A compiled condition: a closure, plus a description used by --explain. */
export interface Predicate {
  (doc: ConnectionDoc): boolean;
  /** The leaf tests that held for `doc`, as readable text ("destination.port in admin_ports (445)"). */
  explain(doc: ConnectionDoc, out: string[]): void;
}

export interface RuleDef {
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
  type: RuleType;
  enabled: boolean;
  condition: Predicate;
  /** Any exception that holds drops the document before it touches rule state. */
  exceptions: Predicate;
  groupBy: string[];
  suppressMs: number;
  windowMs: number;
  threshold: number;
  /** value_count: the fields whose distinct combinations are counted. */
  distinctFields: string[];
  /** new_terms: the fields whose combination must be new. */
  termFields: string[];
  learningMs: number;
  /** new_terms: per-value learning periods keyed by this field (undefined: one for the rule). */
  learningBy?: string;
  /** sequence */
  steps: Predicate[];
  joinOn: string[];
  maxspanMs: number;
  /** pivot_chain */
  ports: Set<number>;
  hopMaxspanMs: number;
  minHops: number;
  tests?: { positive?: number; negative?: number };
  /** Where the rule was defined, for error messages and `rules test`. */
  file: string;
  line: number;
  /** Stable text of the parameters that shape state: state survives a reload only if it is unchanged. */
  stateSignature: string;
}

export interface RuleSet {
  rules: RuleDef[];
  files: string[];
  /** List name -> items, after appends (for --explain and the docs). */
  lists: Map<string, unknown[]>;
}

export interface RuleError {
  file: string;
  line: number;
  col: number;
  ruleId: string;
  ruleName: string;
  message: string;
}

export function formatRuleError(e: RuleError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.ruleId || '-'} - ${e.ruleName || '-'} -> ${e.message}`;
}
