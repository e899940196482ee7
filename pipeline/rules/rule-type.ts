import type { ConnectionDoc } from '../../lib/ecs.js';
import type { Engine } from './engines/engine.js';
import type { PivotEngine } from './engines/pivot-chain.js';
import type { Path } from '../../lib/config-file.js';
import type { Predicate, RuleCommon } from './types.js';

// The contract of one rule type. Each type is one module in engines/ that owns
// its YAML keys (a JSON Schema fragment merged into schemas/rules.schema.json),
// their compiled form, the state its engine keeps, how its alert ids are keyed
// and where its state must live. The loader, the stage, the runner and the
// schema only go through this interface (engines/registry.ts), so adding a type
// means one new module and one line in the registry.

export type Raw = Record<string, unknown>;

export type AnyEngine = { kind: 'doc'; e: Engine } | { kind: 'pivot'; e: PivotEngine };

/** What a type module may ask of the loader while it compiles its own keys. */
export interface CompileCtx {
  raw: Raw;
  /** Reports a problem at the rule's key `path` (file:line:col is found from it). */
  fail(path: Path, message: string): void;
  /** A duration key in ms (the schema already checked its form); `dflt` when absent. */
  duration(key: string, dflt: number): number;
  /** Compiles a condition found at `path` inside the rule. */
  condition(node: unknown, path: Path): Predicate;
  /** The items of a named list, or undefined when there is none. */
  list(name: string): unknown[] | undefined;
}

export interface EngineEnv {
  /** Event time at which this rule starts observing (new_terms learning starts there). */
  stageStart: () => number | undefined;
}

export interface RuleTypeModule<R extends RuleCommon = RuleCommon> {
  type: R['type'];
  /** One line for the docs and `rules validate` messages. */
  summary: string;
  /** JSON Schema of the keys this type adds to a rule (draft-07, refs into rules.schema.json#/definitions). */
  schema: { properties: Record<string, object>; required: string[] };
  /** Keys whose value names document fields (a path or a list of paths): checked against the field table. */
  fieldKeys: string[];
  /** Builds the typed rule from the common part and the raw YAML (already schema-valid). */
  compile(common: Omit<RuleCommon, 'type' | 'suppressMs'>, ctx: CompileCtx): R;
  /** The parameters that shape state: state survives a reload only if they are unchanged. */
  signature(rule: R): unknown[];
  /** The fields the rule keeps state by: where the state must live (pipeline/rules/locality.ts). */
  stateFields(rule: R): string[];
  /** Overrides "host-local when the state fields include host.name". */
  hostLocal?(rule: R): boolean;
  /** Overrides "one key: the state fields' values" for a cross-host rule's re-keyed copies of a document. */
  rekeyKeys?(rule: R): (doc: ConnectionDoc) => string[];
  /** true: alert ids are keyed by suppression period (redelivery overwrites); false: by the first event. */
  periodicAlertIds(rule: R): boolean;
  engine(rule: R, env: EngineEnv): AnyEngine;
}
