import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { alertId } from '../../lib/ids.js';
import { moduleOf } from './engines/registry.js';
import { ipToBytes } from '../../lib/ip.js';
import { fieldGetter } from './field.js';
import { SEVERITY_SCORE, type RuleDef } from './types.js';

// Builds the ECS alert document. The group-by values land at their own ECS
// paths (source.ip, host.name, ...) so an analyst pivots from an alert to the
// connections with the same filter.

export const MAX_EVENT_IDS = 50;

/** Fields copied from the triggering document for single-event alerts (match, new_terms). */
const CONTEXT_FIELDS = ['host.name', 'source.ip', 'source.port', 'destination.ip', 'destination.port', 'process.name', 'process.executable', 'service.name', 'network.direction'];
const contextGetters = CONTEXT_FIELDS.map((f) => [f, fieldGetter(f)] as const);

export interface Firing {
  rule: RuleDef;
  /** Text key of the group (values joined): the suppression and alert id key. */
  groupKey: string;
  /** [ECS path, value] pairs for the group-by fields. */
  fields: Array<[string, unknown]>;
  firstMs: number;
  lastMs: number;
  count: number;
  eventIds: string[];
  /** One line: why it fired (counts, window, values). */
  summary: string;
  values?: string[];
  /** The last triggering document: its condition trace goes into explain. */
  doc?: ConnectionDoc;
  /** Copy host/process/address context from `doc` (single-event rule types). */
  withContext?: boolean;
  extra?: Record<string, unknown>;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = target;
  for (const p of parts.slice(0, -1)) {
    const next = cur[p];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cur[p] = {};
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The alert id. Windowed rules with suppression get at most one alert per
 * group per suppression period, so the id is keyed by the period the first
 * event falls in, not by the first event: when a rebalance hands a rekey
 * partition to another instance and uncommitted documents are redelivered to
 * it, its re-raised alert overwrites the first one instead of adding a second
 * (seen in test/integration/rules-two-instances.test.ts). A burst straddling
 * a period boundary can still give two alerts. Other types key by the first
 * event, which is stable under redelivery.
 */
function idOf(f: Firing): string {
  const r = f.rule;
  if (moduleOf(r).periodicAlertIds(r)) return alertId(r.id, f.groupKey, `period:${Math.floor(f.firstMs / r.suppressMs)}`);
  return alertId(r.id, f.groupKey, f.eventIds[0] ?? String(f.firstMs));
}

export function buildAlert(f: Firing): AlertDoc {
  const r = f.rule;
  const why: string[] = [];
  if (f.doc) r.condition.explain(f.doc, why);
  const explain = `${r.type} '${r.name}': ${f.summary}${why.length ? `; condition held on the last event: ${why.join('; ')}` : ''}`;
  const alert: AlertDoc = {
    '@timestamp': iso(f.lastMs),
    event: {
      id: idOf(f),
      kind: 'alert',
      category: ['network'],
      type: ['info'],
      severity: SEVERITY_SCORE[r.severity],
      risk_score: r.riskScore,
      start: iso(f.firstMs),
      end: iso(f.lastMs),
      dataset: 'connaudit.alerts',
      module: 'connaudit',
      reason: `${r.name}: ${f.summary}`,
    },
    rule: { id: r.id, name: r.name, category: r.category, description: r.description, type: r.type, severity: r.severity, maturity: r.status },
    threat: { framework: 'MITRE ATT&CK', tactic: { id: r.tactics }, technique: { id: r.techniques } },
    connaudit: {
      alert: {
        group_key: f.groupKey,
        count: f.count,
        first_seen: iso(f.firstMs),
        last_seen: iso(f.lastMs),
        event_ids: f.eventIds.slice(0, MAX_EVENT_IDS),
        explain,
      },
    },
  };
  if (r.note) alert.connaudit.alert.investigation = r.note;
  if (f.values) alert.connaudit.alert.values = f.values.slice(0, MAX_EVENT_IDS);
  if (f.extra) Object.assign(alert.connaudit.alert, f.extra);
  const target = alert as unknown as Record<string, unknown>;
  if (f.withContext && f.doc) {
    for (const [path, get] of contextGetters) {
      const v = get(f.doc);
      if (v !== undefined && v !== null) setPath(target, path, v);
    }
  }
  for (const [path, v] of f.fields) setPath(target, path, v);
  target.related = related(f);
  return alert;
}

const isIp = (v: unknown): v is string => {
  if (typeof v !== 'string') return false;
  try {
    ipToBytes(v);
    return true;
  } catch {
    return false;
  }
};

/**
 * ECS related.*: every address, host and user the alert involves (group-by
 * values, the last triggering connection, distinct values, pivot hops), so an
 * analyst searches one field whatever the rule type.
 */
function related(f: Firing): { ip: string[]; hosts: string[]; user: string[] } {
  const ip = new Set<string>();
  const hosts = new Set<string>();
  const user = new Set<string>();
  const add = (path: string, v: unknown): void => {
    if (v === undefined || v === null) return;
    if (path === 'host.name') hosts.add(String(v));
    else if (path === 'user.id' || path === 'user.name') user.add(String(v));
    else if (isIp(v)) ip.add(v);
  };
  for (const [path, v] of f.fields) add(path, v);
  if (f.doc) {
    add('host.name', f.doc.host.name);
    add('source.ip', f.doc.source.ip);
    add('destination.ip', f.doc.destination.ip);
    add('user.id', f.doc.user?.id);
  }
  for (const v of f.values ?? []) add('value', v);
  const targets = f.extra?.targets;
  if (Array.isArray(targets)) for (const x of targets as Array<Record<string, unknown>>) add('host.name', x.host);
  const hops = f.extra?.hops;
  if (Array.isArray(hops)) {
    for (const h of hops as Array<Record<string, unknown>>) {
      add('source.ip', h.source);
      add('destination.ip', h.destination);
      add('host.name', h.source_host);
      add('host.name', h.destination_host);
    }
  }
  return { ip: [...ip], hosts: [...hosts], user: [...user] };
}
