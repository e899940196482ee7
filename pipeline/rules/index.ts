// The rule engine's public surface. The pipeline (pipeline/compose.ts),
// `connaudit rules` and the tests import from here only.
export { loadRuleSet, loadRules, ruleFiles, ruleLayers } from './loader.js';
export { createRuleStage, createCrossHostRuleStage, type RuleStage, type CrossHostRuleStage, type RuleStageOptions } from './stage.js';
export { formatRuleError, ruleLoadError, type RuleDef, type RuleError, type RuleSet } from './types.js';
export type { RuleStageStats, RuleStat } from './stats.js';
export { isHostLocal, rekeyBy } from './locality.js';
export { reloadRules } from './reload.js';
