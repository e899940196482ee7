import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fromRoot } from '../lib/paths.js';

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

export function loadComponentTemplates(dir = templatesDir()): Map<string, ComponentTemplate> {
  return readJsonDir<ComponentTemplate>(`${dir}/component`);
}

export function loadIndexTemplates(dir = templatesDir()): Map<string, IndexTemplate> {
  return readJsonDir<IndexTemplate>(`${dir}/index`);
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
