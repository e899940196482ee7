import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { NAME_PREFIX } from '../lib/names.js';
import { fromRoot } from '../lib/paths.js';
import { DERIVED_FIELDS, RECORD_FIELDS, rawPath, type EsType, type FieldSpec } from '../lib/record-fields.js';

// The index templates live as JSON in schemas/elasticsearch (component/ and
// index/, one file per template, file name = template name) so that they are
// reviewed as contracts and installed verbatim by es-bootstrap.ts. Other
// helpers add their own component files (e.g. connaudit-slo-annotations) next
// to ours instead of editing ours.

export interface Mapping {
  type?: string;
  path?: string;
  dynamic?: boolean | 'strict' | 'true' | 'false';
  properties?: Record<string, Mapping>;
  [k: string]: unknown;
}

export interface ComponentTemplate {
  _meta?: Record<string, unknown>;
  template: { settings?: Record<string, unknown>; mappings?: Mapping & { dynamic_templates?: unknown[] } };
}

export interface IndexTemplate {
  _meta: { write_alias: string; [k: string]: unknown };
  index_patterns: string[];
  priority?: number;
  composed_of: string[];
  ignore_missing_component_templates?: string[];
  template?: ComponentTemplate['template'];
}

export function templatesDir(): string {
  return fromRoot('schemas/elasticsearch');
}

function readJsonDir<T>(dir: string): Map<string, T> {
  const out = new Map<string, T>();
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    const path = `${dir}/${f}`;
    try {
      out.set(f.slice(0, -'.json'.length), JSON.parse(readFileSync(path, 'utf8')) as T);
    } catch (err) {
      throw new Error(`${path}: not valid JSON (${(err as Error).message}); fix the template file`);
    }
  }
  return out;
}

/** The components the record's own fields go into: connaudit.* is strict and per index, the rest is shared with alerts. */
export const RECORD_COMPONENT = 'connaudit-connection-fields';
export const NETWORK_COMPONENT = 'connaudit-network-fields';

// ECS maps its keywords with ignore_above 1024: a longer value (a 1 MB
// executable path) is kept in _source but not indexed as a term, instead of
// failing the document on Lucene's 32 KB term limit.
const KEYWORD_IGNORE_ABOVE = 1024;

// ECS declares these multi-fields as match_only_text, which lives in the
// mapper-extras module: the integ-test-zip Elasticsearch we test on does not
// have it and refuses the whole template. Plain text indexes the same words
// (and keeps positions, so phrase queries work too); Kibana and ECS queries
// treat both alike.
export const TEXT_MULTI_FIELD: Mapping = { type: 'text' };

function leafMapping(es: EsType, text = false): Mapping {
  const m: Mapping = { type: es };
  if (es === 'keyword') m.ignore_above = KEYWORD_IGNORE_ABOVE;
  if (text) m.fields = { text: { ...TEXT_MULTI_FIELD } };
  return m;
}

function putPath(root: Mapping, path: string, leaf: Mapping): void {
  const parts = path.split('.');
  let cur = root;
  for (const p of parts.slice(0, -1)) {
    cur.properties ??= {};
    cur = cur.properties[p] ??= {};
  }
  (cur.properties ??= {})[parts[parts.length - 1]!] = leaf;
}

/**
 * The mappings of every field a connection document gets from its record
 * (lib/record-fields.ts), split into the two components that hold them. They
 * are generated, not written in the JSON files, so that a record field is
 * mapped by being in the table. Maps of free keys (labels) are left to the
 * base component's dynamic template.
 */
export function recordMappings(): Map<string, Mapping> {
  const out = new Map<string, Mapping>([[RECORD_COMPONENT, {}], [NETWORK_COMPONENT, {}]]);
  const put = (path: string, leaf: Mapping): void => putPath(out.get(path.startsWith('connaudit.') ? RECORD_COMPONENT : NETWORK_COMPONENT)!, path, leaf);
  for (const f of RECORD_FIELDS as readonly FieldSpec[]) {
    if (f.items) {
      // An array of records (dns.answers) is an object field with the items' fields, as ECS maps it
      // (no explicit type: an object is what Elasticsearch makes of properties).
      const m: Mapping = { properties: Object.fromEntries(f.items.map((it) => [it.name, leafMapping(it.es)])) };
      put(f.ecs, m);
      if (f.display) put(rawPath(f.ecs), structuredClone(m));
      continue;
    }
    if (f.es === 'object') continue;
    put(f.ecs, leafMapping(f.es, f.text));
    if (f.display) put(rawPath(f.ecs), leafMapping(f.es));
  }
  for (const f of DERIVED_FIELDS) put(f.ecs, leafMapping(f.es));
  return out;
}

// Under CONNAUDIT_NAME_PREFIX (lib/names.ts) every template, pattern and
// alias carries the prefix, so two deployments on one cluster never shape or
// write each other's indices; the files themselves stay unprefixed.
const prefixed = (name: string, prefix: string): string => `${prefix}${name}`;

export function loadComponentTemplates(dir = templatesDir(), prefix = NAME_PREFIX): Map<string, ComponentTemplate> {
  const comps = readJsonDir<ComponentTemplate>(`${dir}/component`);
  for (const [name, m] of recordMappings()) {
    const c = comps.get(name);
    if (c) mergeInto((c.template.mappings ??= {}), m);
  }
  return new Map([...comps].map(([name, c]) => [prefixed(name, prefix), c]));
}

export function loadIndexTemplates(dir = templatesDir(), prefix = NAME_PREFIX): Map<string, IndexTemplate> {
  const out = new Map<string, IndexTemplate>();
  for (const [name, t] of readJsonDir<IndexTemplate>(`${dir}/index`)) {
    out.set(prefixed(name, prefix), {
      ...t,
      _meta: { ...t._meta, write_alias: prefixed(t._meta.write_alias, prefix) },
      index_patterns: t.index_patterns.map((p) => prefixed(p, prefix)),
      composed_of: t.composed_of.map((c) => prefixed(c, prefix)),
      ...(t.ignore_missing_component_templates ? { ignore_missing_component_templates: t.ignore_missing_component_templates.map((c) => prefixed(c, prefix)) } : {}),
    });
  }
  return out;
}

function mergeInto(target: Mapping, src: Mapping): void {
  for (const [k, v] of Object.entries(src)) {
    if (k === 'properties') {
      target.properties ??= {};
      for (const [name, child] of Object.entries(v as Record<string, Mapping>)) {
        const existing = target.properties[name];
        if (existing) mergeInto(existing, child);
        else target.properties[name] = structuredClone(child);
      }
    } else {
      target[k] = structuredClone(v);
    }
  }
}

/**
 * The mappings an index created from `indexTemplate` gets: its components in
 * `composed_of` order, then its own mappings, later ones winning (as
 * Elasticsearch composes them). Missing optional components are skipped.
 */
export function effectiveMappings(indexTemplate: string, dir = templatesDir()): Mapping {
  const idx = loadIndexTemplates(dir).get(indexTemplate);
  if (!idx) throw new Error(`no index template ${indexTemplate}.json in ${dir}/index`);
  const comps = loadComponentTemplates(dir);
  const out: Mapping = {};
  for (const name of idx.composed_of) {
    const c = comps.get(name);
    if (!c) {
      if (idx.ignore_missing_component_templates?.includes(name)) continue;
      throw new Error(`${dir}/index/${indexTemplate}.json: composed_of names ${name}, but ${dir}/component/${name}.json does not exist`);
    }
    if (c.template.mappings) mergeInto(out, c.template.mappings);
  }
  if (idx.template?.mappings) mergeInto(out, idx.template.mappings);
  return out;
}

/** The mapping of a dotted field path, following object properties. */
export function fieldMapping(m: Mapping, path: string): Mapping | undefined {
  let cur: Mapping | undefined = m;
  for (const part of path.split('.')) {
    cur = cur?.properties?.[part];
    if (!cur) return undefined;
  }
  return cur;
}
