// The Kibana saved objects (data views, saved searches, visualizations, one
// dashboard) as code, so that the JSON-in-JSON of searchSourceJSON is written
// by JSON.stringify and not by hand. schemas/kibana/connaudit.ndjson is this
// output, committed for people who import without the CLI;
// saved-objects.test.ts fails when the two differ, and checks that every
// field referenced exists in the index templates with a usable type.

export interface SavedObject {
  id: string;
  type: 'index-pattern' | 'search' | 'visualization' | 'dashboard';
  attributes: Record<string, unknown>;
  references: Array<{ id: string; name: string; type: string }>;
  coreMigrationVersion?: string;
}

/** Data view id -> the index template whose mappings it sees. */
export const DATA_VIEWS = {
  'connaudit-connections': { title: 'connaudit-connections*', template: 'connaudit-connections', name: 'connaudit connections' },
  'connaudit-alerts': { title: 'connaudit-alerts*', template: 'connaudit-alerts', name: 'connaudit alerts' },
  'connaudit-slo': { title: 'connaudit-slo*', template: 'connaudit-slo', name: 'connaudit SLO summaries' },
} as const;

export type DataViewId = keyof typeof DATA_VIEWS;

const INDEX_REF = 'kibanaSavedObjectMeta.searchSourceJSON.index';

function dataView(id: DataViewId): SavedObject {
  const v = DATA_VIEWS[id];
  return { id, type: 'index-pattern', attributes: { title: v.title, name: v.name, timeFieldName: '@timestamp' }, references: [] };
}

function searchSource(query: string): string {
  return JSON.stringify({ query: { query, language: 'kuery' }, filter: [], indexRefName: INDEX_REF });
}

function search(id: string, view: DataViewId, title: string, description: string, query: string, columns: string[], sort: Array<[string, 'asc' | 'desc']>): SavedObject {
  return {
    id,
    type: 'search',
    attributes: { title, description, columns, sort, kibanaSavedObjectMeta: { searchSourceJSON: searchSource(query) } },
    references: [{ id: view, name: INDEX_REF, type: 'index-pattern' }],
  };
}

interface Agg {
  id: string;
  type: string;
  schema: string;
  params: Record<string, unknown>;
}

function visualization(id: string, view: DataViewId, title: string, visType: string, aggs: Agg[], query = '', params: Record<string, unknown> = {}): SavedObject {
  return {
    id,
    type: 'visualization',
    attributes: {
      title,
      description: '',
      uiStateJSON: '{}',
      version: 1,
      visState: JSON.stringify({ title, type: visType, aggs: aggs.map((a) => ({ enabled: true, ...a })), params: { addLegend: true, addTooltip: true, ...params } }),
      kibanaSavedObjectMeta: { searchSourceJSON: searchSource(query) },
    },
    references: [{ id: view, name: INDEX_REF, type: 'index-pattern' }],
  };
}

const count: Agg = { id: '1', type: 'count', schema: 'metric', params: {} };
const overTime: Agg = { id: '2', type: 'date_histogram', schema: 'segment', params: { field: '@timestamp', interval: 'auto', min_doc_count: 1 } };
const terms = (id: string, field: string, schema: string, size = 10): Agg => ({ id, type: 'terms', schema, params: { field, size, order: 'desc', orderBy: '1' } });

export function savedObjects(): SavedObject[] {
  const objects: SavedObject[] = [
    dataView('connaudit-connections'),
    dataView('connaudit-alerts'),
    dataView('connaudit-slo'),
    search('connaudit-unexpected-outbound-by-process', 'connaudit-alerts', 'Unexpected outbound by process',
      'Unexpected-outbound alerts, grouped by the process that opened the connection. Start here when a host talks to somewhere new.',
      'rule.category : "unexpected_outbound"',
      ['process.name', 'process.executable', 'host.name', 'destination.ip', 'destination.port', 'rule.name', 'slo.impact'],
      [['process.name', 'asc'], ['@timestamp', 'desc']]),
    search('connaudit-lateral-movement-by-source', 'connaudit-alerts', 'Lateral-movement alerts by source',
      'Fan-out, scans and pivot chains, grouped by the source address that moved.',
      'rule.category : "lateral_movement"',
      ['source.ip', 'host.name', 'rule.name', 'connaudit.alert.count', 'threat.technique.id', 'slo.impact'],
      [['source.ip', 'asc'], ['@timestamp', 'desc']]),
    search('connaudit-resets-by-node-group', 'connaudit-connections', 'Resets by node group',
      'Connections that ended in a reset, by node group: one group standing out points at its network path, not at the service.',
      'connaudit.conn_state : ("RSTO" or "RSTR" or "RSTOS0" or "RSTRH" or "SHR") or connaudit.rst_received > 0',
      ['connaudit.node_group', 'host.name', 'process.name', 'destination.ip', 'destination.port', 'connaudit.conn_state', 'connaudit.close_reason', 'connaudit.retransmits', 'slo.impact'],
      [['connaudit.node_group', 'asc'], ['@timestamp', 'desc']]),
    search('connaudit-user-impacting-alerts', 'connaudit-alerts', 'User-impacting alerts only',
      'Alerts whose triggering connections were bad events of a service SLO that was burning: the ones users felt.',
      'slo.impact : "user_impacting"',
      ['rule.name', 'rule.category', 'slo.service.name', 'slo.name', 'slo.burn_rate.1h', 'slo.budget_remaining', 'slo.top_contributor.node_group', 'host.name'],
      [['@timestamp', 'desc']]),
    search('connaudit-slo-burning-services', 'connaudit-slo', 'SLO summaries: burning services',
      'Hourly SLO summaries of services whose budget burns faster than it accrues over 1h.',
      'slo.burn_rate.1h > 1',
      ['slo.service.name', 'slo.name', 'slo.objective', 'slo.sli', 'slo.burn_rate.1h', 'slo.burn_rate.6h', 'slo.budget_remaining', 'slo.events.bad'],
      [['@timestamp', 'desc']]),
    visualization('connaudit-vis-impact-over-time', 'connaudit-connections', 'Connections by SLO impact over time', 'histogram',
      [count, overTime, terms('3', 'slo.impact', 'group', 3)], 'slo.impact : *'),
    visualization('connaudit-vis-bad-by-group-cause', 'connaudit-connections', 'Bad events by node group and network cause', 'histogram',
      [count, terms('2', 'slo.node_group', 'segment', 20), terms('3', 'slo.cause', 'group', 6)], 'slo.bad : true'),
    visualization('connaudit-vis-budget-remaining', 'connaudit-slo', 'Error budget remaining per service and SLO', 'table',
      [{ id: '1', type: 'min', schema: 'metric', params: { field: 'slo.budget_remaining' } }, terms('2', 'slo.service.name', 'bucket', 50), terms('3', 'slo.name', 'bucket', 10)]),
    visualization('connaudit-vis-alerts-by-category', 'connaudit-alerts', 'Alerts by category and impact', 'histogram',
      [count, overTime, terms('3', 'rule.category', 'group', 4)], 'slo.impact : "user_impacting" or not slo.impact : *'),
  ];
  const panels: Array<{ ref: string; type: string; id: string; w: number; h: number }> = [
    { ref: 'vis-impact', type: 'visualization', id: 'connaudit-vis-impact-over-time', w: 24, h: 14 },
    { ref: 'vis-budget', type: 'visualization', id: 'connaudit-vis-budget-remaining', w: 24, h: 14 },
    { ref: 'vis-bad', type: 'visualization', id: 'connaudit-vis-bad-by-group-cause', w: 24, h: 14 },
    { ref: 'vis-alerts', type: 'visualization', id: 'connaudit-vis-alerts-by-category', w: 24, h: 14 },
    { ref: 'search-user', type: 'search', id: 'connaudit-user-impacting-alerts', w: 48, h: 14 },
    { ref: 'search-resets', type: 'search', id: 'connaudit-resets-by-node-group', w: 48, h: 14 },
  ];
  let x = 0;
  let y = 0;
  const panelsJSON = panels.map((p, i) => {
    if (x + p.w > 48) {
      x = 0;
      y += 14;
    }
    const out = { version: '8.19.0', type: p.type, gridData: { x, y, w: p.w, h: p.h, i: String(i + 1) }, panelIndex: String(i + 1), embeddableConfig: {}, panelRefName: `panel_${p.ref}` };
    x += p.w;
    return out;
  });
  objects.push({
    id: 'connaudit-overview',
    type: 'dashboard',
    attributes: {
      title: 'connaudit: network anomalies and SLO impact',
      description: 'Which network anomaly reached users, which stayed in the infrastructure layer, and which node group spends the error budget.',
      panelsJSON: JSON.stringify(panelsJSON),
      optionsJSON: JSON.stringify({ useMargins: true, syncColors: false, hidePanelTitles: false }),
      timeRestore: true,
      timeFrom: 'now-24h',
      timeTo: 'now',
      kibanaSavedObjectMeta: { searchSourceJSON: JSON.stringify({ query: { query: '', language: 'kuery' }, filter: [] }) },
    },
    references: panels.map((p) => ({ id: p.id, name: `panel_${p.ref}`, type: p.type })),
  });
  return objects;
}

export function toNdjson(objects = savedObjects()): string {
  return `${objects.map((o) => JSON.stringify(o)).join('\n')}\n`;
}
