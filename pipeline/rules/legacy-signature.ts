import { parseDuration } from './duration.js';
import type { Raw } from './rule-type.js';
import type { RuleDef } from './types.js';

// A rule keeps its saved state only while its state signature is unchanged.
// Before rule types were modules, the signature of every rule was one array
// over all types' parameters, and pipelines in the field hold state under
// that text. A new_terms baseline dropped on upgrade would mute the rule for
// its whole learning period, so the six original types keep writing that exact
// layout; a type added later signs with its own module's signature().

const ORIGINAL_TYPES = new Set(['match', 'threshold', 'value_count', 'new_terms', 'sequence', 'pivot_chain']);

export function legacySignature(raw: Raw, def: RuleDef): string | null {
  if (!ORIGINAL_TYPES.has(def.type)) return null;
  const ms = (key: string): number => (raw[key] === undefined ? 0 : parseDuration(raw[key]) ?? 0);
  return JSON.stringify([
    def.type, raw.group_by ?? [], ms('window'), raw.threshold, raw.distinct ?? [], raw.fields ?? [], raw.learning_period, raw.learning_by,
    raw.join_on ?? [], ms('maxspan'), def.type === 'pivot_chain' ? [...def.ports] : [], ms('hop_maxspan'), raw.min_hops ?? 2, (raw.steps as unknown[] | undefined)?.length,
  ]);
}
