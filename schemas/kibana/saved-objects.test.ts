import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { effectiveMappings, fieldMapping, type Mapping } from '../../pipeline/es-templates.js';
import { KIBANA_FORMAT, layerRef } from './lens.js';
import { DATA_VIEWS, savedObjects, toNdjson, type DataViewId, type SavedObject } from './saved-objects.js';

// Every field a saved object names must exist in the index template behind
// its data view, with a type that use allows: Kibana accepts a saved search
// over a missing field and then shows an empty column or a failing query,
// which nobody notices until an incident.

const ndjsonPath = new URL('./connaudit.ndjson', import.meta.url);
const objects: SavedObject[] = readFileSync(ndjsonPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as SavedObject);

type Use = 'column' | 'sort' | 'kql' | 'kql_range' | 'terms' | 'date_histogram' | 'metric';
const AGGREGATABLE = ['keyword', 'long', 'integer', 'short', 'byte', 'float', 'double', 'scaled_float', 'half_float', 'ip', 'boolean', 'date'];
const NUMERIC = ['long', 'integer', 'short', 'byte', 'float', 'double', 'scaled_float', 'half_float'];
const ALLOWED: Record<Use, string[] | 'any'> = {
  column: 'any',
  kql: 'any',
  sort: AGGREGATABLE,
  kql_range: [...NUMERIC, 'date', 'ip'],
  terms: AGGREGATABLE,
  date_histogram: ['date'],
  metric: NUMERIC,
};

interface Ref {
  object: string;
  view: DataViewId;
  field: string;
  use: Use;
}

/** Field names in a KQL string, with the use the operator implies; quoted values are ignored. */
export function kqlFields(kql: string): Array<{ field: string; use: Use }> {
  const noStrings = kql.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const out: Array<{ field: string; use: Use }> = [];
  for (const m of noStrings.matchAll(/([A-Za-z@_][\w.@]*)\s*(<=|>=|<|>|:)/g)) out.push({ field: m[1]!, use: m[2] === ':' ? 'kql' : 'kql_range' });
  return out;
}

interface LensState {
  datasourceStates: { formBased: { layers: Record<string, { columns: Record<string, { operationType: string; sourceField?: string }> }> } };
  query: { query: string };
  filters: unknown[];
}

const LENS_USE: Record<string, Use> = { terms: 'terms', date_histogram: 'date_histogram', sum: 'metric', max: 'metric', min: 'metric', average: 'metric', median: 'metric' };

function refsOf(o: SavedObject): Ref[] {
  if (o.type === 'index-pattern' || o.type === 'dashboard') return [];
  const viewRef = o.references.find((r) => r.type === 'index-pattern');
  if (!viewRef || !(viewRef.id in DATA_VIEWS)) throw new Error(`${o.id} -> references no known data view (got ${viewRef?.id})`);
  const view = viewRef.id as DataViewId;
  const refs: Ref[] = [];
  const add = (field: string, use: Use): void => void refs.push({ object: o.id, view, field, use });
  if (o.type === 'lens') {
    const state = o.attributes.state as LensState;
    kqlFields(state.query.query).forEach((k) => add(k.field, k.use));
    for (const layer of Object.values(state.datasourceStates.formBased.layers)) {
      for (const c of Object.values(layer.columns)) {
        if (c.operationType === 'count') continue;
        const use = LENS_USE[c.operationType];
        if (!use || !c.sourceField) throw new Error(`${o.id} -> column with operation ${c.operationType} is not checked by this test; teach it`);
        add(c.sourceField, use);
      }
    }
    return refs;
  }
  const a = o.attributes as { columns?: string[]; sort?: Array<[string, string]>; visState?: string; kibanaSavedObjectMeta: { searchSourceJSON: string } };
  a.columns?.forEach((c) => add(c, 'column'));
  a.sort?.forEach(([f]) => add(f, 'sort'));
  const src = JSON.parse(a.kibanaSavedObjectMeta.searchSourceJSON) as { query: { query: string }; filter: Array<{ meta?: { key?: string } }> };
  kqlFields(src.query.query).forEach((k) => add(k.field, k.use));
  src.filter.forEach((f) => f.meta?.key && add(f.meta.key, 'kql'));
  if (a.visState) {
    const vis = JSON.parse(a.visState) as { aggs: Array<{ type: string; params: { field?: string } }> };
    for (const agg of vis.aggs) {
      if (!agg.params.field) continue;
      add(agg.params.field, agg.type === 'date_histogram' ? 'date_histogram' : agg.type === 'terms' ? 'terms' : 'metric');
    }
  }
  return refs;
}

function resolveType(m: Mapping, field: string): string | undefined {
  const f = fieldMapping(m, field);
  if (!f) return undefined;
  if (f.type === 'alias' && typeof f.path === 'string') return resolveType(m, f.path);
  return f.type ?? (f.properties ? 'object' : undefined);
}

describe('Kibana saved objects', () => {
  it('the committed NDJSON is what `connaudit kibana export` writes', () => {
    expect(readFileSync(ndjsonPath, 'utf8')).toBe(toNdjson(savedObjects()));
  });

  it('has the data views, the everyday searches, and one dashboard per seed question whose panels all resolve', () => {
    const titles = objects.map((o) => `${o.type}:${String(o.attributes.title)}`);
    expect(titles).toEqual(expect.arrayContaining([
      'index-pattern:connaudit-connections*', 'index-pattern:connaudit-alerts*', 'index-pattern:connaudit-slo*', 'index-pattern:connaudit-agent-health*',
      'search:Unexpected outbound by process', 'search:Lateral-movement alerts by source', 'search:Resets by node group', 'search:User-impacting alerts only',
      'dashboard:connaudit: which processes open unexpected outbound connections',
      'dashboard:connaudit: which destinations time out most',
      'dashboard:connaudit: recurring retry storms on the same node',
      'dashboard:connaudit: does the close rate climb at certain hours',
      'dashboard:connaudit: SLO impact by node group',
      'dashboard:connaudit: sensor cost by node group',
    ]));
    const byId = new Map(objects.map((o) => [o.id, o]));
    for (const dash of objects.filter((o) => o.type === 'dashboard')) {
      const panels = JSON.parse(String(dash.attributes.panelsJSON)) as Array<{ panelRefName: string; type: string; gridData: { x: number; w: number } }>;
      expect(panels.length, dash.id).toBeGreaterThanOrEqual(2);
      for (const p of panels) {
        const ref = dash.references.find((r) => r.name === p.panelRefName);
        expect(ref && byId.get(ref.id)?.type === p.type, `${dash.id} -> panel ${p.panelRefName} has no ${p.type} saved object`).toBe(true);
        expect(p.gridData.x + p.gridData.w, `${dash.id} -> panel ${p.panelRefName} overflows the 48-column grid`).toBeLessThanOrEqual(48);
      }
    }
  });

  it('uses Lens, not legacy visualizations, with the data view referenced per layer', () => {
    expect(objects.filter((o) => (o.type as string) === 'visualization')).toEqual([]);
    const lenses = objects.filter((o) => o.type === 'lens');
    expect(lenses.length).toBeGreaterThanOrEqual(12);
    for (const l of lenses) {
      const layers = Object.keys((l.attributes.state as LensState).datasourceStates.formBased.layers);
      for (const id of layers) expect(l.references.map((r) => r.name), l.id).toContain(layerRef(id));
    }
  });

  it('every object carries the migration versions of the stated Kibana format', () => {
    for (const o of objects) {
      expect(o.coreMigrationVersion, o.id).toBe(KIBANA_FORMAT.core);
      expect(o.typeMigrationVersion, o.id).toBe(KIBANA_FORMAT.types[o.type]);
    }
  });

  it('dashboard and search attributes use only keys Kibana\'s type schemas accept (unknown keys are refused on import)', () => {
    // Kibana's dashboard attribute schema (8.9.0 / model version 1) forbids unknown keys; saved
    // searches of the legacy format carry these (later ones move them into tabs on migration).
    const allowed: Partial<Record<SavedObject['type'], string[]>> = {
      dashboard: ['title', 'description', 'kibanaSavedObjectMeta', 'timeRestore', 'timeFrom', 'timeTo', 'refreshInterval', 'controlGroupInput', 'panelsJSON', 'optionsJSON', 'hits', 'version'],
      search: ['title', 'description', 'columns', 'sort', 'kibanaSavedObjectMeta', 'grid', 'hideChart', 'isTextBasedQuery', 'timeRestore', 'timeRange', 'refreshInterval', 'rowHeight', 'sampleSize', 'breakdownField', 'viewMode'],
      lens: ['title', 'description', 'visualizationType', 'state'],
      'index-pattern': ['title', 'name', 'timeFieldName', 'fields', 'fieldFormatMap', 'runtimeFieldMap', 'sourceFilters', 'allowNoIndex', 'type', 'typeMeta'],
    };
    const problems = objects.flatMap((o) => Object.keys(o.attributes).filter((k) => !allowed[o.type]!.includes(k)).map((k) => `${o.id} -> attribute ${k} is not in Kibana's ${o.type} schema`));
    expect(problems).toEqual([]);
  });

  it('reads field names out of KQL, skipping quoted values', () => {
    expect(kqlFields('a.b : "x:y" or c > 1 and not d.e : (f or "g:h")')).toEqual([
      { field: 'a.b', use: 'kql' }, { field: 'c', use: 'kql_range' }, { field: 'd.e', use: 'kql' },
    ]);
  });

  const refs = objects.flatMap(refsOf);
  it('references some fields at all (the extraction works)', () => {
    expect(refs.length).toBeGreaterThan(80);
  });

  it('every referenced field exists in the index template with a compatible type (all offenders listed)', () => {
    const mappings = new Map<DataViewId, Mapping>();
    const problems: string[] = [];
    for (const r of refs) {
      let m = mappings.get(r.view);
      if (!m) {
        try {
          m = effectiveMappings(DATA_VIEWS[r.view].template);
        } catch (err) {
          problems.push(`${r.object} -> index template for ${r.view}: ${(err as Error).message}`);
          continue;
        }
        mappings.set(r.view, m);
      }
      const type = resolveType(m, r.field);
      const allowed = ALLOWED[r.use];
      if (type === undefined) problems.push(`${r.object} -> ${r.field} (${r.use}) is not mapped in schemas/elasticsearch/index/${DATA_VIEWS[r.view].template}.json or its components`);
      else if (type === 'object') problems.push(`${r.object} -> ${r.field} (${r.use}) is an object, not a field`);
      else if (allowed !== 'any' && !allowed.includes(type)) problems.push(`${r.object} -> ${r.field} is ${type}, which ${r.use} cannot use (needs ${allowed.join('/')})`);
    }
    expect(problems).toEqual([]);
  });
});
