import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlertDoc } from '../lib/alert.js';
import { recordToDoc } from '../lib/ecs.js';
import { DERIVED_FIELDS, RECORD_FIELDS, rawPath, type FieldSpec } from '../lib/record-fields.js';
import { dnsRecord, record, udpFlow } from '../test/helpers/records.js';
import { generateStorm } from '../tools/gen/slo-storm.js';
import { createEnricher } from './enrich/enrich.js';
import { healthToDoc } from './agent-health.js';
import { TEXT_MULTI_FIELD, effectiveMappings, fieldMapping, loadComponentTemplates, loadIndexTemplates, type Mapping } from './es-templates.js';
import { fixturesDir, readJsonl, runDocs } from './rules/fixtures.js';
import { loadRuleSet } from './rules/loader.js';
import { defaultRulesDir } from './rules/paths.js';
import { loadCatalogue } from './slo/catalogue.js';
import { createSloStage } from './slo/index.js';
import { summaryDocs } from './slo/summary.js';

// Every field the code can write must be mapped, with the type its meaning
// calls for; otherwise it is unsearchable (dynamic:false) or rejected (strict).

function leaves(v: unknown, prefix = ''): Array<[string, unknown]> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    return Object.entries(v as Record<string, unknown>).flatMap(([k, c]) => leaves(c, prefix ? `${prefix}.${k}` : k));
  }
  // An array of objects (pivot hops, agent_health.bpf_programs) is mapped by its elements' fields.
  if (Array.isArray(v) && v[0] !== null && typeof v[0] === 'object') return leaves(v[0], prefix);
  return [[prefix, Array.isArray(v) ? v[0] : v]];
}

const FLOAT_FIELDS = new Set(['connaudit.connect_latency_ms', 'connaudit.srtt_ms', 'connaudit.agent_health.wire_bytes_per_record',
  'connaudit.agent_health.cpu_pct', 'connaudit.agent_health.events_per_s', 'connaudit.agent_health.bpf_ns_per_run_max', 'connaudit.agent_health.bpf_programs.ns_per_run']);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** The type a leaf should have, from what it means. */
/** Address fields whose name does not end in .ip. */
const IP_FIELDS = new Set(['connaudit.alert.hops.source', 'connaudit.alert.hops.destination', 'dns.resolved_ip']);

function intendedType(path: string, value: unknown): string {
  if (path.endsWith('.ip') || IP_FIELDS.has(path)) return 'ip';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number') return FLOAT_FIELDS.has(path) ? 'float' : 'long';
  if (typeof value === 'string' && ISO.test(value)) return 'date';
  return 'keyword';
}

function fullyEnrichedDoc() {
  // Hostile display values, so the escaped originals (connaudit.raw.*) are written too.
  const doc = recordToDoc(record(1, { node_group: null, environment: null, comm: 'gnp\u202eexe.png', executable: '/tmp/\u001b[2Jx', parent_name: 'sh\u0000', host: 'web-1\u200b', container_id: 'c0\u0007ffee', process_unknown_reason: 'exited', sampled: true, started_before_agent: true }));
  createEnricher(
    { zones: { prod: ['10.1.0.0/16'], db: ['10.2.0.0/16'] }, node_groups: { web: ['web-*'] }, environments: [{ zone: 'prod', environment: 'production' }] },
    { matchService: () => ({ name: 'orders', owner: 'team-orders' }), matchDestinationService: () => ({ name: 'postgres' }) },
  )(doc);
  doc.event.ingested = '2025-11-22T00:00:00.000Z';
  return doc;
}

describe('connaudit-connections template', () => {
  const m = effectiveMappings('connaudit-connections');
  const doc = fullyEnrichedDoc();
  const fields = leaves(doc).filter(([p]) => !p.startsWith('labels.'));

  it('the fixture exercises the enrichment fields too', () => {
    const paths = fields.map(([p]) => p);
    for (const p of ['connaudit.raw.process.name', 'connaudit.raw.host.name', 'connaudit.sanitized', 'related.ip', 'related.user', 'host.ip', 'ecs.version', 'connaudit.process_unknown_reason', 'connaudit.source_zone', 'connaudit.destination_zone', 'connaudit.destination_external', 'connaudit.node_group', 'service.name', 'service.environment', 'connaudit.service_owner', 'connaudit.destination_service', 'event.ingested', 'container.id']) {
      expect(paths, p).toContain(p);
    }
  });

  it.each(fields)('maps %s with its intended type', (path, value) => {
    const f = fieldMapping(m, path);
    expect(f, `${path} is not in schemas/elasticsearch (connaudit-connections)`).toBeDefined();
    expect(f!.type, path).toBe(intendedType(path, value));
  });

  // DNS and UDP documents write fields a TCP one never has (dns.*, packets, domains).
  const hostileDns = dnsRecord(1, { dns_qname: 'x\u202e.example', dns_answers: [{ name: 'x\u202e.example', type: 'A', ttl: 1, data: '10.0.0.1\u0000' }], dst_domain: 'r\u200b.example', dst_registered_domain: 'example' });
  const dnsFields = [...leaves(recordToDoc(hostileDns)), ...leaves(recordToDoc(udpFlow(2)))].filter(([p]) => !p.startsWith('labels.') && !fields.some(([q]) => q === p));
  it('the DNS and UDP documents add their own fields', () => {
    const paths = dnsFields.map(([p]) => p);
    for (const p of ['dns.id', 'dns.question.name', 'dns.question.registered_domain', 'dns.response_code', 'dns.resolved_ip', 'dns.answers.ttl', 'dns.answers.data', 'connaudit.raw.dns.answers.name', 'connaudit.raw.dns.question.name', 'network.protocol', 'source.packets', 'destination.domain', 'destination.registered_domain']) {
      expect(paths, p).toContain(p);
    }
  });
  it.each(dnsFields)('maps %s (DNS/UDP) with its intended type', (path, value) => {
    const f = fieldMapping(m, path);
    expect(f, `${path} is not in schemas/elasticsearch (connaudit-connections)`).toBeDefined();
    expect(f!.type, path).toBe(intendedType(path, value));
  });

  it('maps labels.* to keyword through a dynamic template', () => {
    const dts = (loadComponentTemplates().get('connaudit-ecs-base')!.template.mappings!.dynamic_templates ?? []) as Array<Record<string, { path_match: string; mapping: Mapping }>>;
    const labels = dts.map((d) => Object.values(d)[0]!).find((d) => d.path_match === 'labels.*');
    expect(labels?.mapping.type).toBe('keyword');
    expect(fieldMapping(m, 'labels')!.dynamic).toBe(true);
  });

  it.each([
    ['host.name', 'keyword'],
    ['process.name', 'keyword'],
    ['destination.ip', 'ip'],
    ['destination.port', 'long'],
  ])('has the seed label %s natively as %s', (path, type) => {
    expect(fieldMapping(m, path)?.type).toBe(type);
  });

  it.each([
    ['connection.state', 'connaudit.conn_state'],
    ['latency_ms', 'connaudit.connect_latency_ms'],
    ['environment', 'service.environment'],
  ])('has the seed label %s as an alias of %s', (alias, target) => {
    const a = fieldMapping(m, alias);
    expect(a).toEqual({ type: 'alias', path: target });
    expect(fieldMapping(m, target)?.type).toBeDefined();
  });

  it('is strict for connaudit.* and lenient at the root', () => {
    expect(m.dynamic).toBe(false);
    expect(fieldMapping(m, 'connaudit')!.dynamic).toBe('strict');
  });
});

describe('record field table against the connaudit-connections template', () => {
  const m = effectiveMappings('connaudit-connections');
  const table = (RECORD_FIELDS as readonly FieldSpec[]).filter((f) => f.es !== 'object');

  it.each(table.map((f) => [f.name, f] as const))('%s is mapped at its ECS path with its type', (_n, f) => {
    const got = fieldMapping(m, f.ecs);
    expect(got?.type, f.ecs).toBe(f.es);
    expect(got?.fields, `${f.ecs}.text`).toEqual(f.text ? { text: TEXT_MULTI_FIELD } : undefined);
    if (f.display) expect(fieldMapping(m, rawPath(f.ecs))?.type, rawPath(f.ecs)).toBe(f.es);
  });

  it.each(DERIVED_FIELDS.map((f) => [f.ecs, f.es] as const))('derived field %s is mapped as %s', (path, es) => {
    expect(fieldMapping(m, path)?.type).toBe(es);
  });

  // ECS gives these a .text multi-field (schemas/process.yml in elastic/ecs).
  it.each(['process.name', 'process.executable', 'process.parent.name'])('%s has the ECS .text multi-field', (path) => {
    expect(fieldMapping(m, path)?.fields).toEqual({ text: { type: 'text' } });
  });

  it('keeps keywords indexable however long the value (ignore_above, as ECS)', () => {
    expect(fieldMapping(m, 'process.executable')?.ignore_above).toBe(1024);
  });
});

/** Strings that ECS (or we) map as full text rather than keyword. */
const TEXT_FIELDS = new Set(['rule.description', 'connaudit.alert.investigation', 'connaudit.alert.explain']);

/** Every leaf must be mapped with its intended type; a leaf under dynamic:false is otherwise silently unsearchable. */
function unmappedOrMistyped(m: Mapping, doc: unknown): string[] {
  const bad: string[] = [];
  for (const [path, value] of leaves(doc)) {
    if (path.startsWith('labels.')) continue;
    const got = fieldMapping(m, path)?.type;
    let want = TEXT_FIELDS.has(path) ? 'text' : intendedType(path, value);
    // A float field may well hold a whole number (a burn rate of 0, a risk score of 47).
    if (want === 'long' && got === 'float') want = 'float';
    if (got !== want) bad.push(`${path}: mapped ${got ?? 'nowhere'}, written as ${want}`);
  }
  return bad;
}

describe('every document the pipeline writes is mapped', () => {
  it('alerts of every shipped rule over its positive fixtures', () => {
    const { ruleset, errors } = loadRuleSet(defaultRulesDir());
    expect(errors).toEqual([]);
    const alerts: AlertDoc[] = [];
    for (const rule of ruleset.rules) {
      const file = join(fixturesDir(rule), 'positive.jsonl');
      if (existsSync(file)) alerts.push(...runDocs(ruleset, [rule], readJsonl(file)));
    }
    expect(alerts.length).toBeGreaterThanOrEqual(ruleset.rules.length);
    const m = effectiveMappings('connaudit-alerts');
    const bad = new Set(alerts.flatMap((a) => unmappedOrMistyped(m, a)));
    expect([...bad]).toEqual([]);
  });

  it('SLO annotations, SLO alerts and hourly SLO summaries over the storm', () => {
    const stage = createSloStage(loadCatalogue(new URL('../config/services.yaml', import.meta.url).pathname));
    const storm = generateStorm({ baselineMinutes: 70, stormMinutes: 30, afterMinutes: 5 });
    const alerts: AlertDoc[] = [];
    for (const d of storm.docs) alerts.push(...stage.process(d));
    expect(alerts.length).toBeGreaterThan(0);
    const summaries = summaryDocs(stage).map((s) => s.doc);
    expect(summaries.length).toBeGreaterThan(0);
    const conn = effectiveMappings('connaudit-connections');
    expect([...new Set(storm.docs.slice(0, 2000).flatMap((d) => unmappedOrMistyped(conn, d)))]).toEqual([]);
    expect([...new Set(alerts.flatMap((a) => unmappedOrMistyped(effectiveMappings('connaudit-alerts'), a)))]).toEqual([]);
    expect([...new Set(summaries.flatMap((d) => unmappedOrMistyped(effectiveMappings('connaudit-slo'), d)))]).toEqual([]);
  });
});

describe('connaudit-agent-health template', () => {
  const m = effectiveMappings('connaudit-agent-health');
  const doc = healthToDoc({
    event_id: 'h1', host: 'web-1', ts_us: 1_763_770_000_000_000, agent_version: '0.1.0', started_us: 1_763_760_000_000_000, interval_s: 10,
    records_total: 5, records_produced: 5, ringbuf_drops: 0, ringbuf_drops_per_cpu: [0, 0], sampled_out: 0, filtered: 1,
    spool_records: 0, spool_bytes: 0, spool_dropped: 0, kafka_errors: 0, kafka_connected: true,
    records_dead_lettered: 0, wire_bytes: 3075, wire_bytes_per_record: 61.5,
    node_group: 'canary', profile: 'minimal', cpu_pct: 1.25, rss_bytes: 81_264_640, events_per_s: 12.5,
    bpf_programs: [{ name: 'handle_state', run_cnt: 1000, run_time_ns: 250_500 }],
  });
  it.each(leaves(doc))('maps %s with its intended type', (path, value) => {
    expect(fieldMapping(m, path)?.type, path).toBe(intendedType(path, value));
  });
});

describe('index templates', () => {
  const idx = loadIndexTemplates();
  it('define the four indices, each behind a write alias its pattern covers', () => {
    expect([...idx.keys()].sort()).toEqual(['connaudit-agent-health', 'connaudit-alerts', 'connaudit-connections', 'connaudit-slo']);
    for (const [name, t] of idx) {
      expect(t._meta.write_alias).toBe(name);
      expect(t.index_patterns).toEqual([`${name}-*`]);
    }
  });

  it('compose only components that exist or are declared optional', () => {
    const comps = loadComponentTemplates();
    for (const [name, t] of idx) {
      for (const c of t.composed_of) {
        expect(comps.has(c) || t.ignore_missing_component_templates?.includes(c), `${name} composes missing ${c}`).toBe(true);
      }
    }
  });

  it('alerts map the rule, threat and group-by fields', () => {
    const m = effectiveMappings('connaudit-alerts');
    const want: Record<string, string> = {
      'rule.id': 'keyword', 'rule.category': 'keyword', 'event.severity': 'long', 'event.risk_score': 'float', 'threat.tactic.id': 'keyword',
      'threat.technique.id': 'keyword', 'source.ip': 'ip', 'destination.port': 'long', 'host.name': 'keyword',
      'connaudit.alert.first_seen': 'date', 'connaudit.alert.count': 'long', 'connaudit.alert.event_ids': 'keyword',
    };
    for (const [p, t] of Object.entries(want)) expect(fieldMapping(m, p)?.type, p).toBe(t);
  });
});

describe('templates under a name prefix', () => {
  it('prefixes template names, patterns, write aliases and component references, not the shapes', () => {
    const plain = loadIndexTemplates();
    const pre = loadIndexTemplates(undefined, 'staging-');
    expect([...pre.keys()].sort()).toEqual([...plain.keys()].map((k) => `staging-${k}`).sort());
    const t = pre.get('staging-connaudit-connections')!;
    expect(t._meta.write_alias).toBe('staging-connaudit-connections');
    expect(t.index_patterns).toEqual(['staging-connaudit-connections-*']);
    expect(t.composed_of.every((c) => c.startsWith('staging-connaudit-'))).toBe(true);
    expect(t.ignore_missing_component_templates).toEqual(['staging-connaudit-slo-annotations']);
    const comps = loadComponentTemplates(undefined, 'staging-');
    for (const c of t.composed_of.filter((n) => !t.ignore_missing_component_templates?.includes(n))) expect(comps.has(c)).toBe(true);
    expect(comps.get('staging-connaudit-connection-fields')).toEqual(loadComponentTemplates().get('connaudit-connection-fields'));
  });
});
