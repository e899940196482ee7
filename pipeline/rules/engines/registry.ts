import type { RuleTypeModule } from '../rule-type.js';
import type { RuleCommon } from '../types.js';
import { matchType } from './match.js';
import { newTermsType } from './new-terms.js';
import { pivotChainType } from './pivot-chain.js';
import { sequenceType } from './sequence.js';
import { thresholdType } from './threshold.js';
import { valueCountType } from './value-count.js';

// Every rule type, by its YAML `type:`. A new type is one module in this folder
// plus one entry here (then `connaudit rules schema --write` refreshes
// schemas/rules.schema.json); nothing else names the types.

const all = () => [matchType, thresholdType, valueCountType, newTermsType, sequenceType, pivotChainType] as const;

type RuleOf<M> = M extends RuleTypeModule<infer R> ? R : never;
export type AnyRule = RuleOf<ReturnType<typeof all>[number]>;

// Built on first use, not at import: the engines import alert.ts, which asks
// this registry for alert-id policy, so the modules form an import cycle that
// is only safe while nothing here runs at load time.
let list: Array<RuleTypeModule<RuleCommon>> | undefined;
let byType: Map<string, RuleTypeModule<RuleCommon>> | undefined;

/** Every registered type module, in registry order. */
export function ruleTypes(): Array<RuleTypeModule<RuleCommon>> {
  list ??= all().map((m) => m as unknown as RuleTypeModule<RuleCommon>);
  return list;
}

export function ruleTypeModule(type: string): RuleTypeModule<RuleCommon> | undefined {
  byType ??= new Map(ruleTypes().map((m) => [m.type, m]));
  return byType.get(type);
}

/** The module of a compiled rule (its type was checked when it loaded). */
export function moduleOf(rule: AnyRule): RuleTypeModule<RuleCommon> {
  return ruleTypeModule(rule.type)!;
}
