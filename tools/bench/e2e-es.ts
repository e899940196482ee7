import { Client } from '@elastic/elasticsearch';
import { esClientOptions } from '../../lib/connect.js';

// Elasticsearch housekeeping of a `bench e2e` run: its client, and removing
// everything the run's pipeline created under the run's name prefix (indices,
// index and component templates), so runs leave the shared cluster as they
// found it. Indices are deleted by name: clusters refuse wildcard deletes
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
