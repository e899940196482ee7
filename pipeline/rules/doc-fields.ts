import { CLOSE_REASONS, CONN_STATES } from '../../lib/record.js';
import { RECORD_KINDS, TRANSPORTS } from '../../lib/record-fields.js';
import { effectiveMappings, type Mapping } from '../es-templates.js';
import { INDEX_CONNECTIONS } from '../../lib/names.js';

// The fields a rule may name: the connection document's field table. Until
// the record's own field table (lib/record-fields.ts) lands, it is read from
// the effective mappings of the connections index template, which is the
// same table (the template test keeps them equal). Everything else in the
// rule engine asks lookupField()/suggestField(), so the source can switch in
// one place.

export type FieldType = 'keyword' | 'long' | 'float' | 'ip' | 'date' | 'boolean' | 'object';

export interface FieldInfo {
  /** The document path the rule reads (an Elasticsearch alias resolves to its target). */
  path: string;
  type: FieldType;
  /** Closed value sets (conn_state, close_reason, ...): any other value can never match. */
  allowed?: readonly string[];
  /** Port numbers: integers 0..65535. */
  port?: boolean;
}

const ALLOWED: Record<string, readonly string[]> = {
  'connaudit.conn_state': CONN_STATES,
  'connaudit.close_reason': CLOSE_REASONS,
  'connaudit.record_kind': RECORD_KINDS,
  'network.transport': TRANSPORTS,
  'network.direction': ['egress', 'ingress'],
  'network.type': ['ipv4', 'ipv6'],
};

/** Objects whose keys are free (labels.team): any sub-path is a keyword. */
const OPEN_OBJECTS = new Set(['labels']);

let table: Map<string, FieldInfo> | undefined;

function typeOf(m: Mapping): FieldType {
  switch (m.type) {
    case 'long': case 'integer': case 'short': case 'byte': return 'long';
    case 'float': case 'double': case 'scaled_float': case 'half_float': return 'float';
    case 'ip': return 'ip';
    case 'date': return 'date';
    case 'boolean': return 'boolean';
    case 'object': return 'object';
    default: return 'keyword';
  }
}

function build(): Map<string, FieldInfo> {
  const out = new Map<string, FieldInfo>();
  const aliases: Array<[string, string]> = [];
  const walk = (m: Mapping, prefix: string): void => {
    for (const [name, child] of Object.entries(m.properties ?? {})) {
      const path = prefix ? `${prefix}.${name}` : name;
      if (child.properties && child.type === undefined) { walk(child, path); continue; }
      if (child.type === 'alias' && typeof child.path === 'string') { aliases.push([path, child.path]); continue; }
      const info: FieldInfo = { path, type: typeOf(child) };
      if (ALLOWED[path]) info.allowed = ALLOWED[path];
      if (/\.port$/.test(path)) info.port = true;
      out.set(path, info);
    }
  };
  walk(effectiveMappings(INDEX_CONNECTIONS), '');
  for (const [alias, target] of aliases) {
    const t = out.get(target);
    if (t) out.set(alias, { ...t });
  }
  return out;
}

function fields(): Map<string, FieldInfo> {
  table ??= build();
  return table;
}

/** The field a rule names, or undefined when the connection document has no such field. */
export function lookupField(name: string): FieldInfo | undefined {
  const known = fields().get(name);
  if (known) return known;
  const top = name.split('.')[0]!;
  if (OPEN_OBJECTS.has(top) && name.includes('.')) return { path: name, type: 'keyword' };
  return undefined;
}

/** Every field a rule may name, with its type, in table order (for `connaudit rules fields`). */
export function allFields(): Array<[string, FieldInfo]> {
  return [...fields()];
}

/** Edit distance, for "did you mean". Small strings only (field names). */
function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The closest known field name, when one is close enough to be a likely typo. */
export function suggestField(name: string): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const f of fields().keys()) {
    const d = distance(name, f);
    if (d < bestD) { bestD = d; best = f; }
  }
  // Same last segment under another parent (port -> destination.port) also counts.
  if (best && bestD <= Math.max(2, Math.floor(name.length / 4))) return best;
  const last = name.split('.').pop()!;
  return [...fields().keys()].find((f) => f.endsWith(`.${last}`) || f === last);
}

/** The sentence for an unknown field. */
export function unknownFieldMessage(name: string): string {
  const s = suggestField(name);
  return `unknown field '${name}'${s ? `; did you mean ${s}?` : ''} (list the fields with: connaudit rules fields)`;
}
