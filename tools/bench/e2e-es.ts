import { Client } from '@elastic/elasticsearch';
import { esClientOptions } from '../../lib/connect.js';

// Elasticsearch side of a `bench e2e` run: its client, what it reads (counts,
// settings, node CPU), and removing everything the run's pipeline created
// under the run's name prefix (indices, index and component templates), so
// runs leave the shared cluster as they found it. Indices are deleted by name: clusters refuse wildcard deletes
// (action.destructive_requires_name, on by default since 8.0).

export function esClientFor(env?: NodeJS.ProcessEnv): Client {
  return new Client(esClientOptions(env));
}

/** Deletes the indices, index templates and component templates matching `pattern` (which must name a bench prefix). */
export async function deleteEsMatching(es: Client, pattern: string): Promise<void> {
  if (!/^[a-z0-9-]*bench-e2e-/.test(pattern)) throw new Error(`refusing to delete ${pattern}: not a bench e2e name`);
  const indices = Object.keys(await es.indices.get({ index: pattern, expand_wildcards: 'all', allow_no_indices: true }));
  if (indices.length > 0) await es.indices.delete({ index: indices });
  const templates = (await es.indices.getIndexTemplate({ name: pattern }).catch(() => ({ index_templates: [] }))).index_templates.map((t) => t.name);
  for (const name of templates) await es.indices.deleteIndexTemplate({ name });
  const components = (await es.cluster.getComponentTemplate({ name: pattern }).catch(() => ({ component_templates: [] }))).component_templates.map((t) => t.name);
  for (const name of components) await es.cluster.deleteComponentTemplate({ name });
}

/** The refresh interval the run's write index really has (the template's, or the config's). */
export async function indexRefreshInterval(es: Client, alias: string): Promise<string> {
  const res = await es.indices.getSettings({ index: alias, name: 'index.refresh_interval', include_defaults: true, flat_settings: true });
  const idx = Object.values(res)[0] as { settings?: Record<string, string>; defaults?: Record<string, string> } | undefined;
  return idx?.settings?.['index.refresh_interval'] ?? idx?.defaults?.['index.refresh_interval'] ?? 'unknown';
}

/** CPU seconds of all Elasticsearch nodes so far (node stats), NaN if the cluster does not say. */
export async function esCpuS(es: Client): Promise<number> {
  const res = await es.nodes.stats({ metric: 'process' }).catch(() => undefined);
  if (!res) return Number.NaN;
  return Object.values(res.nodes).reduce((n, node) => n + (node.process?.cpu?.total_in_millis ?? Number.NaN), 0) / 1000;
}

/** Documents searchable now (no refresh forced); 0 before the index exists. */
export async function searchableCount(es: Client, index: string): Promise<number> {
  return (await es.count({ index }).catch(() => ({ count: 0 }))).count;
}
