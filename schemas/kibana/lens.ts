// Lens visualizations as Kibana stores them, built from a small spec. The
// shape follows Kibana's Lens saved-object type: `visualizationType`, and a
// `state` with one form-based datasource layer (columns + columnOrder), the
// visualization's own state, the query and filters; the data view is a
// reference named `indexpattern-datasource-layer-<layerId>`. That is the
// format after Kibana's last legacy Lens migration (8.9.0, which renamed
// nothing we use; 8.6.0 renamed the datasource `indexpattern` -> `formBased`).

/**
 * The migration versions every object is stamped with. Kibana compares them
 * with its own on import: an older version is migrated forward by Kibana's
 * own migrations (legacy ones, then model versions), a newer one is refused.
 * These are the last legacy migration of each type in Kibana's source
 * (data views 7.11.0 + the 8.0.0 multi-namespace conversion, saved searches
 * 8.0.0, Lens 8.9.0, dashboards 8.9.0) and the core version 8.8.0 that Kibana
 * has written since model versions replaced legacy migrations. So the same
 * file imports into every Kibana from 8.9 on, tested targets below.
 */
export const KIBANA_FORMAT = {
  core: '8.8.0',
  types: { 'index-pattern': '8.0.0', search: '8.0.0', lens: '8.9.0', dashboard: '8.9.0' },
  /** The Kibana releases this format is stated for (README, `kibana import` output). */
  targets: ['8.19', '9.3'],
} as const;

export type LensColumn =
  | { op: 'count'; label: string }
  | { op: 'date_histogram'; field: string; interval: string; label: string }
  | { op: 'terms'; field: string; size: number; label: string }
  | { op: 'sum' | 'max' | 'min' | 'average' | 'median'; field: string; label: string };

interface XySpec {
  view: string;
  title: string;
  kind: 'bar_stacked' | 'bar_horizontal' | 'line';
  query: string;
  x: LensColumn;
  y: LensColumn[];
  split?: LensColumn;
}

interface TableSpec {
  view: string;
  title: string;
  kind: 'table';
  query: string;
  rows: LensColumn[];
  y: LensColumn[];
}

export type LensSpec = XySpec | TableSpec;

export const LAYER_ID = 'layer1';
/** The reference name through which Lens finds a layer's data view. */
export const layerRef = (layerId = LAYER_ID) => `indexpattern-datasource-layer-${layerId}`;

const RECORDS = '___records___';

/** One form-based datasource column as Lens persists it. `orderBy` is the metric column a terms column sorts by. */
export function column(c: LensColumn, orderBy: string | undefined): Record<string, unknown> {
  switch (c.op) {
    case 'count':
      return { label: c.label, customLabel: true, dataType: 'number', operationType: 'count', isBucketed: false, scale: 'ratio', sourceField: RECORDS, params: { emptyAsNull: true } };
    case 'date_histogram':
      return {
        label: c.label, customLabel: true, dataType: 'date', operationType: 'date_histogram', isBucketed: true, scale: 'interval', sourceField: c.field,
        params: { interval: c.interval, includeEmptyRows: true, dropPartials: false },
      };
    case 'terms':
      return {
        label: c.label, customLabel: true, dataType: 'string', operationType: 'terms', isBucketed: true, scale: 'ordinal', sourceField: c.field,
        params: {
          size: c.size, orderBy: orderBy ? { type: 'column', columnId: orderBy } : { type: 'alphabetical', fallback: true }, orderDirection: 'desc',
          otherBucket: true, missingBucket: false, parentFormat: { id: 'terms' }, include: [], exclude: [], includeIsRegex: false, excludeIsRegex: false,
        },
      };
    default:
      return { label: c.label, customLabel: true, dataType: 'number', operationType: c.op, isBucketed: false, scale: 'ratio', sourceField: c.field, params: { emptyAsNull: true } };
  }
}

export function lens(spec: LensSpec): { attributes: Record<string, unknown>; references: Array<{ id: string; name: string; type: string }> } {
  const metrics = spec.y.map((c, i) => [`col-y${i}`, c] as const);
  const firstMetric = metrics[0]?.[0];
  const buckets: Array<readonly [string, LensColumn]> = spec.kind === 'table'
    ? spec.rows.map((c, i) => [`col-r${i}`, c] as const)
    // The split goes first in columnOrder: the date histogram (or category) nests inside each top value.
    : [...(spec.split ? [['col-split', spec.split] as const] : []), ['col-x', spec.x] as const];
  const columns = Object.fromEntries([...buckets, ...metrics].map(([id, c]) => [id, column(c, firstMetric)]));
  const columnOrder = [...buckets, ...metrics].map(([id]) => id);

  const visualization = spec.kind === 'table'
    ? { layerId: LAYER_ID, layerType: 'data', columns: columnOrder.map((columnId) => ({ columnId })) }
    : {
      legend: { isVisible: true, position: 'right' },
      valueLabels: 'hide',
      fittingFunction: 'None',
      preferredSeriesType: spec.kind,
      layers: [{
        layerId: LAYER_ID, layerType: 'data', seriesType: spec.kind, xAccessor: 'col-x', accessors: metrics.map(([id]) => id),
        ...(spec.split ? { splitAccessor: 'col-split' } : {}),
      }],
    };

  return {
    attributes: {
      title: spec.title,
      description: '',
      visualizationType: spec.kind === 'table' ? 'lnsDatatable' : 'lnsXY',
      state: {
        datasourceStates: { formBased: { layers: { [LAYER_ID]: { columns, columnOrder, incompleteColumns: {}, sampling: 1 } } } },
        visualization,
        query: { query: spec.query, language: 'kuery' },
        filters: [],
        internalReferences: [],
        adHocDataViews: {},
      },
    },
    references: [{ id: spec.view, name: layerRef(), type: 'index-pattern' }],
  };
}
