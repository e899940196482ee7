import { createHash } from 'node:crypto';
import { basename } from 'node:path';

// Sigma metadata -> connaudit rule metadata: level -> severity and risk score,
// status -> maturity, ATT&CK tags -> tactic and technique ids, and the note an
// analyst reads (source, known false positives, what to tune).

/** MITRE ATT&CK Enterprise tactics by the names Sigma tags use (`attack.lateral_movement`). */
const TACTICS: Record<string, string> = {
  reconnaissance: 'TA0043', resource_development: 'TA0042', initial_access: 'TA0001', execution: 'TA0002',
  persistence: 'TA0003', privilege_escalation: 'TA0004', defense_evasion: 'TA0005', credential_access: 'TA0006',
  discovery: 'TA0007', lateral_movement: 'TA0008', collection: 'TA0009', command_and_control: 'TA0011',
  exfiltration: 'TA0010', impact: 'TA0040',
};

const LEVELS: Record<string, { severity: string; risk: number }> = {
  informational: { severity: 'low', risk: 21 }, low: { severity: 'low', risk: 21 }, medium: { severity: 'medium', risk: 47 },
  high: { severity: 'high', risk: 73 }, critical: { severity: 'critical', risk: 99 },
};

const STATUSES = new Set(['experimental', 'test', 'stable', 'deprecated']);

export interface SigmaMeta {
  id?: unknown;
  name?: unknown;
  title?: unknown;
  description?: unknown;
  status?: unknown;
  level?: unknown;
  tags?: unknown;
  falsepositives?: unknown;
  author?: unknown;
  references?: unknown;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

export function threatFromTags(tags: string[]): { tactic: string[]; technique: string[] } {
  const tactic = new Set<string>();
  const technique = new Set<string>();
  for (const t of tags) {
    const m = /^attack\.(.+)$/i.exec(t);
    if (!m) continue;
    const v = m[1]!.toLowerCase();
    if (TACTICS[v]) tactic.add(TACTICS[v]);
    else if (/^ta\d{4}$/.test(v)) tactic.add(v.toUpperCase());
    else if (/^t\d{4}(\.\d{3})?$/.test(v)) technique.add(v.toUpperCase());
  }
  return { tactic: [...tactic], technique: [...technique] };
}

/** A UUID that is a pure function of its inputs, for rules derived from one Sigma rule. */
export function derivedUuid(...parts: string[]): string {
  const h = createHash('sha1').update(parts.join('|')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface RuleHead {
  rule: string;
  id: string;
  description: string;
  status: string;
  severity: string;
  risk_score: number;
  category: string;
  threat: { tactic: string[]; technique: string[] };
  note: string;
  tags: string[];
}

/** The metadata half of a converted rule. `extraTags` come from the rules a correlation refers to. */
export function ruleHead(m: SigmaMeta, file: string, idSuffix = '', extraTags: string[] = []): RuleHead {
  const title = typeof m.title === 'string' && m.title.trim() ? m.title.trim() : 'Untitled Sigma rule';
  const sigmaId = typeof m.id === 'string' ? m.id : '';
  const base = UUID.test(sigmaId) ? sigmaId.toLowerCase() : derivedUuid('sigma', basename(file), title);
  const id = idSuffix ? derivedUuid(base, idSuffix) : base;
  const level = LEVELS[String(m.level ?? 'medium').toLowerCase()] ?? LEVELS.medium!;
  const status = STATUSES.has(String(m.status)) ? String(m.status) : 'experimental';
  const tags = [...new Set([...strings(m.tags), ...extraTags])];
  const threat = threatFromTags(tags);
  const desc = typeof m.description === 'string' && m.description.trim().length >= 10 ? m.description.trim() : `Sigma rule: ${title}`;
  const fps = strings(m.falsepositives).filter((f) => !/^unknown$/i.test(f.trim()));
  const refs = strings(m.references);
  const note = [
    `Imported from Sigma rule ${sigmaId || '(no id)'} (${basename(file)}).`,
    typeof m.author === 'string' ? `Sigma author: ${m.author}.` : '',
    fps.length ? `Known false positives (from the Sigma rule): ${fps.join('; ')}.` : 'The Sigma rule lists no known false positives.',
    refs.length ? `References: ${refs.join(', ')}` : '',
    'Tune: add an exceptions: entry for the known false positives (by host.name, process.name or an address),',
    'or disable or override the rule in a later rules folder; keep the Sigma file as the source and convert it again after changing it.',
  ].filter(Boolean).join('\n');
  const category = threat.tactic.includes('TA0008') || threat.tactic.includes('TA0007') ? 'lateral_movement' : 'unexpected_outbound';
  return {
    rule: idSuffix ? `${title} (${idSuffix})` : title,
    id,
    description: desc,
    status,
    severity: level.severity,
    risk_score: level.risk,
    category,
    threat,
    note,
    tags: ['sigma', ...tags],
  };
}
