import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// For the engine's unit tests: tiny rule files written inline, Falco
// test_rule_loader style. Not used at run time.

export const RULE_HEAD = (id = '0b6f1f4e-8a61-4c1e-9a55-3d1f2a9e0c11', name = 'Inline rule') => `- rule: ${name}
  id: ${id}
  description: an inline rule for a unit test
  status: test
  severity: high
  risk_score: 73
  category: lateral_movement
  threat: {tactic: [TA0008], technique: [T1021]}
  note: unit test rule, no investigation needed
`;

/** Writes files (name -> YAML text) into a fresh directory and returns it. */
export function ruleDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'connaudit-rules-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
