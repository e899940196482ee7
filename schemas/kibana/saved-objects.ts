import { KIBANA_FORMAT, lens, type LensColumn, type LensSpec } from './lens.js';

// The Kibana saved objects (data views, saved searches, Lens visualizations,
// dashboards) as code, so that the JSON-in-JSON of searchSourceJSON and
// panelsJSON is written by JSON.stringify and not by hand.
// schemas/kibana/connaudit.ndjson is this output, committed for people who
// import without the CLI; saved-objects.test.ts fails when the two differ,
// checks every field referenced against the index templates, and checks each
// object against the attribute keys Kibana's own type schemas allow.
//
// Format: each object carries coreMigrationVersion and typeMigrationVersion
// (KIBANA_FORMAT in lens.ts). Import into Kibana 8.19 or 9.x runs Kibana's own
// migrations from there to its current model version, which is how Kibana
// upgrades any export from an older release.

export type SavedObjectType = 'index-pattern' | 'search' | 'lens' | 'dashboard';

export interface SavedObject {
  id: string;
  type: SavedObjectType;
  attributes: Record<string, unknown>;
  references: Array<{ id: string; name: string; type: string }>;
  coreMigrationVersion: string;
  typeMigrationVersion: string;
}

/** Data view id -> the index template whose mappings it sees. */
export const DATA_VIEWS = {
  'connaudit-connections': { title: 'connaudit-connections*', template: 'connaudit-connections', name: 'connaudit connections' },
  'connaudit-alerts': { title: 'connaudit-alerts*', template: 'connaudit-alerts', name: 'connaudit alerts' },
  'connaudit-slo': { title: 'connaudit-slo*', template: 'connaudit-slo', name: 'connaudit SLO summaries' },
  'connaudit-agent-health': { title: 'connaudit-agent-health*', template: 'connaudit-agent-health', name: 'connaudit agent health' },
} as const;

export type DataViewId = keyof typeof DATA_VIEWS;

const INDEX_REF = 'kibanaSavedObjectMeta.searchSourceJSON.index';

const stamp = (type: SavedObjectType) => ({ coreMigrationVersion: KIBANA_FORMAT.core, typeMigrationVersion: KIBANA_FORMAT.types[type] });

function dataView(id: DataViewId): SavedObject {
  const v = DATA_VIEWS[id];
  return { id, type: 'index-pattern', attributes: { title: v.title, name: v.name, timeFieldName: '@timestamp' }, references: [], ...stamp('index-pattern') };
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
    ...stamp('search'),
  };
}

function lensObject(id: string, spec: LensSpec & { view: DataViewId }): SavedObject {
  const { attributes, references } = lens(spec);
  return { id, type: 'lens', attributes, references, ...stamp('lens') };
}

// Columns, named for what they count.
const count = (label = 'Connections'): LensColumn => ({ op: 'count', label });
const hourly: LensColumn = { op: 'date_histogram', field: '@timestamp', interval: '1h', label: 'Hour' };
const overTime: LensColumn = { op: 'date_histogram', field: '@timestamp', interval: 'auto', label: '@timestamp' };
const top = (field: string, size: number, label?: string): LensColumn => ({ op: 'terms', field, size, label: label ?? `Top ${size} ${field}` });
const metric = (op: 'sum' | 'max' | 'min' | 'average' | 'median', field: string, label: string): LensColumn => ({ op, field, label });

interface Panel {
  id: string;
  type: 'lens' | 'search';
  w: number;
  h: number;
}

function dashboard(id: string, title: string, description: string, panels: Panel[]): SavedObject {
  let x = 0;
  let y = 0;
  let rowH = 0;
  const panelsJSON = panels.map((p, i) => {
    if (x + p.w > 48) {
      x = 0;
      y += rowH;
      rowH = 0;
    }
    const panelIndex = String(i + 1);
    const out = { type: p.type, gridData: { x, y, w: p.w, h: p.h, i: panelIndex }, panelIndex, embeddableConfig: {}, panelRefName: `panel_${panelIndex}` };
    x += p.w;
    rowH = Math.max(rowH, p.h);
    return out;
  });
  return {
    id,
    type: 'dashboard',
    attributes: {
      title,
      description,
      panelsJSON: JSON.stringify(panelsJSON),
      optionsJSON: JSON.stringify({ useMargins: true, syncColors: false, syncCursor: true, syncTooltips: false, hidePanelTitles: false }),
      timeRestore: true,
      timeFrom: 'now-24h',
      timeTo: 'now',
      refreshInterval: { pause: true, value: 60_000 },
      kibanaSavedObjectMeta: { searchSourceJSON: JSON.stringify({ query: { query: '', language: 'kuery' }, filter: [] }) },
      version: 1,
    },
    references: panels.map((p, i) => ({ id: p.id, name: `panel_${i + 1}`, type: p.type })),
    ...stamp('dashboard'),
  };
}

const half = (id: string, type: Panel['type'] = 'lens'): Panel => ({ id, type, w: 24, h: 15 });
const full = (id: string, type: Panel['type'] = 'lens'): Panel => ({ id, type, w: 48, h: 15 });

const UNEXPECTED = 'rule.category : "unexpected_outbound"';
const TIMED_OUT = 'connaudit.close_reason : "syn_timeout" or connaudit.syn_retransmits > 0';
const CLOSED = 'connaudit.record_kind : "final" and not connaudit.close_reason : "open"';
const DNS = 'network.protocol : "dns"';
const DNS_FAILED = 'network.protocol : "dns" and (connaudit.close_reason : "timeout" or dns.response_code : ("SERVFAIL" or "REFUSED" or "NXDOMAIN"))';
const UDP_FLOWS = 'network.transport : "udp" and not network.protocol : "dns"';

export function savedObjects(): SavedObject[] {
  const objects: SavedObject[] = [
    dataView('connaudit-connections'),
    dataView('connaudit-alerts'),
    dataView('connaudit-slo'),
    dataView('connaudit-agent-health'),

    // Saved searches: the rows behind each chart.
    search('connaudit-unexpected-outbound-by-process', 'connaudit-alerts', 'Unexpected outbound by process',
      'Unexpected-outbound alerts, grouped by the process that opened the connection. Start here when a host talks to somewhere new.',
      UNEXPECTED,
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
    search('connaudit-timed-out-connections', 'connaudit-connections', 'Connections that timed out',
      'Connection attempts that never got an answer or needed SYN retransmits, newest first.',
      TIMED_OUT,
      ['host.name', 'process.name', 'destination.ip', 'destination.port', 'connaudit.destination_service', 'connaudit.close_reason', 'connaudit.syn_retransmits', 'connaudit.node_group'],
      [['@timestamp', 'desc']]),
    search('connaudit-retry-storm-alerts', 'connaudit-alerts', 'Retry-storm alerts',
      'Retry storms toward one destination; the host and node group say whether the same node keeps coming back.',
      'rule.name : "Retry storm toward one destination"',
      ['host.name', 'connaudit.node_group', 'connaudit.destination_service', 'connaudit.alert.count', 'slo.impact'],
      [['@timestamp', 'desc']]),
    search('connaudit-dns-queries', 'connaudit-connections', 'DNS queries by process',
      'Every DNS transaction the sensor saw: which process asked which resolver for which name, and what came back. Unanswered queries show close reason timeout.',
      DNS,
      ['host.name', 'process.name', 'dns.question.name', 'dns.question.type', 'dns.response_code', 'dns.resolved_ip', 'destination.ip', 'connaudit.close_reason'],
      [['@timestamp', 'desc']]),
    search('connaudit-dns-failures', 'connaudit-connections', 'DNS failures',
      'DNS queries that failed: SERVFAIL, REFUSED, NXDOMAIN or no answer at all. Many from one host point at its resolver path; many names under one domain at tunnelling or a typo.',
      DNS_FAILED,
      ['host.name', 'process.name', 'dns.question.name', 'dns.response_code', 'connaudit.close_reason', 'destination.ip', 'connaudit.node_group'],
      [['@timestamp', 'desc']]),
    search('connaudit-udp-flows', 'connaudit-connections', 'UDP flows by process',
      'UDP flows (DNS excluded) with the process that sent them, the name it resolved for the peer, and bytes and packets each way. S0: the peer never answered.',
      UDP_FLOWS,
      ['host.name', 'process.name', 'destination.domain', 'destination.ip', 'destination.port', 'connaudit.conn_state', 'source.bytes', 'destination.bytes', 'source.packets', 'destination.packets'],
      [['@timestamp', 'desc']]),

    // 1. Which processes open unexpected outbound connections.
    lensObject('connaudit-lens-unexpected-by-process', { view: 'connaudit-alerts', title: 'Unexpected outbound alerts by process over time', kind: 'bar_stacked',
      query: UNEXPECTED, x: overTime, y: [count('Alerts')], split: top('process.name', 10, 'Process') }),
    lensObject('connaudit-lens-unexpected-process-destinations', { view: 'connaudit-connections', title: 'External destinations per process',
      kind: 'table', query: 'connaudit.destination_external : true',
      rows: [top('process.name', 20, 'Process'), top('network.transport', 2, 'Transport'), top('destination.ip', 10, 'Destination')], y: [count(), metric('max', 'destination.port', 'Highest port')] }),
    lensObject('connaudit-lens-external-domains-by-process', { view: 'connaudit-connections', title: 'External domains per process (TCP and UDP)',
      kind: 'table', query: 'connaudit.destination_external : true and destination.registered_domain : * and not network.protocol : "dns"',
      rows: [top('process.name', 20, 'Process'), top('destination.registered_domain', 10, 'Registered domain'), top('network.transport', 2, 'Transport')], y: [count(), metric('sum', 'source.bytes', 'Bytes sent')] }),

    // DNS: what names processes ask for, and what fails.
    lensObject('connaudit-lens-dns-top-domains', { view: 'connaudit-connections', title: 'Most queried registered domains', kind: 'bar_horizontal',
      query: DNS, x: top('dns.question.registered_domain', 20, 'Registered domain'), y: [count('Queries')] }),
    lensObject('connaudit-lens-dns-rcodes-over-time', { view: 'connaudit-connections', title: 'DNS answers over time by response code', kind: 'bar_stacked',
      query: DNS, x: overTime, y: [count('Queries')], split: top('dns.response_code', 6, 'Response code') }),
    lensObject('connaudit-lens-dns-failures-by-host', { view: 'connaudit-connections', title: 'DNS failures by host and resolver', kind: 'table',
      query: DNS_FAILED, rows: [top('host.name', 20, 'Host'), top('destination.ip', 5, 'Resolver'), top('dns.response_code', 5, 'Response code')], y: [count('Failed queries')] }),
    lensObject('connaudit-lens-dns-queries-by-process', { view: 'connaudit-connections', title: 'DNS queries per process and resolver', kind: 'table',
      query: DNS, rows: [top('process.name', 20, 'Process'), top('destination.ip', 5, 'Resolver')], y: [count('Queries'), metric('max', 'destination.bytes', 'Largest answer (bytes)')] }),

    // UDP flows beside TCP.
    lensObject('connaudit-lens-udp-bytes-by-destination', { view: 'connaudit-connections', title: 'UDP bytes sent per process and destination', kind: 'table',
      query: UDP_FLOWS, rows: [top('process.name', 20, 'Process'), top('destination.ip', 10, 'Destination'), top('destination.port', 5, 'Port')],
      y: [metric('sum', 'source.bytes', 'Bytes sent'), metric('sum', 'source.packets', 'Packets sent'), metric('sum', 'destination.bytes', 'Bytes received')] }),
    lensObject('connaudit-lens-flows-by-transport', { view: 'connaudit-connections', title: 'Closed connections and UDP flows over time by transport', kind: 'bar_stacked',
      query: CLOSED, x: overTime, y: [count('Closed connections and flows')], split: top('network.transport', 2, 'Transport') }),

    // 2. Which destinations time out most.
    lensObject('connaudit-lens-timeouts-by-destination', { view: 'connaudit-connections', title: 'Destinations that time out most', kind: 'bar_horizontal',
      query: TIMED_OUT, x: top('destination.ip', 15, 'Destination'), y: [count('Timed-out connections'), metric('sum', 'connaudit.syn_retransmits', 'SYN retransmits')] }),
    lensObject('connaudit-lens-timeouts-over-time', { view: 'connaudit-connections', title: 'Timeouts over time by destination service', kind: 'line',
      query: TIMED_OUT, x: overTime, y: [count('Timed-out connections')], split: top('connaudit.destination_service', 8, 'Destination service') }),

    // 3. Recurring retry storms on the same node.
    lensObject('connaudit-lens-retransmits-by-node', { view: 'connaudit-connections', title: 'SYN retransmits per node over time', kind: 'bar_stacked',
      query: 'connaudit.syn_retransmits > 0', x: overTime, y: [metric('sum', 'connaudit.syn_retransmits', 'SYN retransmits')], split: top('host.name', 10, 'Node') }),
    lensObject('connaudit-lens-retry-storms-per-node', { view: 'connaudit-alerts', title: 'Retry-storm alerts per node and day', kind: 'table',
      query: 'rule.name : "Retry storm toward one destination"',
      rows: [top('host.name', 20, 'Node'), { op: 'date_histogram', field: '@timestamp', interval: '1d', label: 'Day' }], y: [count('Storms')] }),

    // 4. Whether the close rate climbs at certain hours.
    lensObject('connaudit-lens-closes-per-hour', { view: 'connaudit-connections', title: 'Closed connections per hour by how they ended', kind: 'bar_stacked',
      query: CLOSED, x: hourly, y: [count('Closed connections')], split: top('connaudit.close_reason', 8, 'Close reason') }),
    lensObject('connaudit-lens-resets-per-hour', { view: 'connaudit-connections', title: 'Resets per hour by node group', kind: 'line',
      query: 'connaudit.close_reason : ("rst_sent" or "rst_received")', x: hourly, y: [count('Resets')], split: top('connaudit.node_group', 8, 'Node group') }),

    // 5. SLO impact by node group.
    lensObject('connaudit-lens-impact-over-time', { view: 'connaudit-connections', title: 'Connections by SLO impact over time', kind: 'bar_stacked',
      query: 'slo.impact : *', x: overTime, y: [count()], split: top('slo.impact', 3, 'Impact') }),
    lensObject('connaudit-lens-bad-by-group-cause', { view: 'connaudit-connections', title: 'Bad events by node group and network cause', kind: 'bar_stacked',
      query: 'slo.bad : true', x: top('slo.node_group', 20, 'Node group'), y: [count('Bad events')], split: top('slo.cause', 6, 'Cause') }),
    lensObject('connaudit-lens-budget-remaining', { view: 'connaudit-slo', title: 'Error budget remaining per service and SLO', kind: 'table', query: '',
      rows: [top('slo.service.name', 50, 'Service'), top('slo.name', 10, 'SLO')], y: [metric('min', 'slo.budget_remaining', 'Budget remaining (min)'), metric('max', 'slo.burn_rate.1h', 'Burn rate 1h (max)')] }),
    lensObject('connaudit-lens-alerts-by-category', { view: 'connaudit-alerts', title: 'Alerts by category and impact', kind: 'bar_stacked',
      query: 'slo.impact : "user_impacting" or not slo.impact : *', x: overTime, y: [count('Alerts')], split: top('rule.category', 4, 'Category') }),

    // 6. Sensor cost by node group (safe rollout: profile a small group before widening).
    lensObject('connaudit-lens-sensor-cost-by-group', { view: 'connaudit-agent-health', title: 'Sensor cost by node group', kind: 'table', query: '',
      rows: [top('connaudit.agent_health.node_group', 20, 'Node group'), top('connaudit.agent_health.profile', 5, 'Profile')],
      y: [metric('average', 'connaudit.agent_health.cpu_pct', 'Agent CPU % (avg)'), metric('max', 'connaudit.agent_health.rss_bytes', 'Agent RSS bytes (max)'),
        metric('average', 'connaudit.agent_health.events_per_s', 'Events/s (avg)'), metric('max', 'connaudit.agent_health.bpf_ns_per_run_max', 'BPF ns per run (max program)')] }),
    lensObject('connaudit-lens-sensor-cpu-over-time', { view: 'connaudit-agent-health', title: 'Agent CPU over time by node group', kind: 'line', query: '',
      x: overTime, y: [metric('average', 'connaudit.agent_health.cpu_pct', 'Agent CPU %')], split: top('connaudit.agent_health.node_group', 10, 'Node group') }),
    lensObject('connaudit-lens-sensor-drops-by-group', { view: 'connaudit-agent-health', title: 'Ring-buffer drops and spool discards by node group', kind: 'bar_stacked', query: '',
      x: top('connaudit.agent_health.node_group', 20, 'Node group'), y: [metric('max', 'connaudit.agent_health.ringbuf_drops', 'Ring-buffer drops'), metric('max', 'connaudit.agent_health.spool_dropped', 'Spool discards')] }),
  ];

  objects.push(
    dashboard('connaudit-overview', 'connaudit: network anomalies and SLO impact',
      'Which network anomaly reached users, which stayed in the infrastructure layer, and which node group spends the error budget.',
      [half('connaudit-lens-impact-over-time'), half('connaudit-lens-budget-remaining'), half('connaudit-lens-bad-by-group-cause'), half('connaudit-lens-alerts-by-category'),
        full('connaudit-user-impacting-alerts', 'search'), full('connaudit-resets-by-node-group', 'search')]),
    dashboard('connaudit-unexpected-outbound', 'connaudit: which processes open unexpected outbound connections',
      'Unexpected-outbound alerts by the process behind them, and every external destination each process reached.',
      [half('connaudit-lens-unexpected-by-process'), half('connaudit-lens-unexpected-process-destinations'), full('connaudit-lens-external-domains-by-process'), full('connaudit-unexpected-outbound-by-process', 'search')]),
    dashboard('connaudit-dns', 'connaudit: DNS by process',
      'Which process asked which resolver for which name, which domains are queried most, and where DNS fails (SERVFAIL, NXDOMAIN, timeouts).',
      [half('connaudit-lens-dns-top-domains'), half('connaudit-lens-dns-rcodes-over-time'), half('connaudit-lens-dns-failures-by-host'), half('connaudit-lens-dns-queries-by-process'),
        full('connaudit-dns-failures', 'search'), full('connaudit-dns-queries', 'search')]),
    dashboard('connaudit-udp', 'connaudit: UDP flows',
      'UDP flows beside TCP connections: which process sends how much to whom, and which flows the peer never answered (S0).',
      [half('connaudit-lens-flows-by-transport'), half('connaudit-lens-udp-bytes-by-destination'), full('connaudit-udp-flows', 'search')]),
    dashboard('connaudit-timeouts', 'connaudit: which destinations time out most',
      'Connection attempts without an answer (SYN timeouts, SYN retransmits) by destination, and when they happen.',
      [half('connaudit-lens-timeouts-by-destination'), half('connaudit-lens-timeouts-over-time'), full('connaudit-timed-out-connections', 'search')]),
    dashboard('connaudit-retry-storms', 'connaudit: recurring retry storms on the same node',
      'SYN retransmits per node over time and retry-storm alerts per node and day: a node that keeps coming back is a node problem.',
      [half('connaudit-lens-retransmits-by-node'), half('connaudit-lens-retry-storms-per-node'), full('connaudit-retry-storm-alerts', 'search')]),
    dashboard('connaudit-close-rate-by-hour', 'connaudit: does the close rate climb at certain hours',
      'Closed connections and resets per hour: a climb at the same hour every day points at a schedule (batch job, backup, rotation).',
      [full('connaudit-lens-closes-per-hour'), full('connaudit-lens-resets-per-hour')]),
    dashboard('connaudit-slo-by-node-group', 'connaudit: SLO impact by node group',
      'Which node group spends which service\'s error budget, and through which network cause.',
      [half('connaudit-lens-bad-by-group-cause'), half('connaudit-lens-budget-remaining'), full('connaudit-user-impacting-alerts', 'search'), full('connaudit-slo-burning-services', 'search')]),
    dashboard('connaudit-sensor-cost', 'connaudit: sensor cost by node group',
      'The agent\'s own cost per node group (CPU, RSS, events/s, BPF ns per run) and its drops: profile one small group before widening.',
      [full('connaudit-lens-sensor-cost-by-group'), half('connaudit-lens-sensor-cpu-over-time'), half('connaudit-lens-sensor-drops-by-group')]),
  );
  return objects;
}

export function toNdjson(objects = savedObjects()): string {
  return `${objects.map((o) => JSON.stringify(o)).join('\n')}\n`;
}
