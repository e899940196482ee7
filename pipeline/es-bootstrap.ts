import type { Client } from '@elastic/elasticsearch';
import type { Logger } from '../lib/log.js';
import { loadComponentTemplates, loadIndexTemplates, templatesDir } from './es-templates.js';
import { detectCapabilities, ilmIndexSettings, installIlmPolicy, lifecycleSettings, type Capabilities, type LifecycleSettings } from './lifecycle.js';

// Installs the templates of schemas/elasticsearch and makes sure every write
// alias points at an index. Idempotent and safe to race (two pipeline
// instances starting together): templates are PUT (same content, same
// result), and "index already exists" from the loser of a create is success.
//
// Plain indices + write alias rather than data streams: the local integ-test-zip
// distribution ships neither data streams nor ILM, and an alias lets a
// rollover (<alias>-000002) happen without changing any reader. Rollover and
// retention are pipeline/lifecycle.ts: with ILM the templates and write
// indices are attached to its policy here; without, the pipeline runs them.

export interface BootstrapResult {
  componentTemplates: string[];
  indexTemplates: string[];
  created: string[];
  mappingUpdated: string[];
  /** 'ilm': the cluster rolls over and deletes; 'local': the pipeline must (LocalLifecycle). */
  lifecycle: 'ilm' | 'local';
  capabilities: Capabilities;
  /** The write aliases, in template order: what the lifecycle manages. */
  aliases: string[];
}

const errType = (err: unknown): string | undefined => (err as { body?: { error?: { type?: string } } }).body?.error?.type;

export interface IndexTuning {
  /**
   * index.refresh_interval of every connaudit index (config index_refresh_interval):
   * how long a written document may wait before a search sees it. Set on the
   * index templates (new indices) and on the current write indices (a dynamic
   * setting). Unset: the template's own value (1s), and a write index keeps
   * whatever it was given before until it rolls over.
   */
  refreshInterval?: string;
}

export async function bootstrapElasticsearch(client: Client, log?: Logger, dir = templatesDir(), lifecycle: LifecycleSettings = lifecycleSettings(), tuning: IndexTuning = {}): Promise<BootstrapResult> {
  const capabilities = await detectCapabilities(client);
  const ilm = capabilities.ilm;
  const result: BootstrapResult = { componentTemplates: [], indexTemplates: [], created: [], mappingUpdated: [], lifecycle: ilm ? 'ilm' : 'local', capabilities, aliases: [] };
  if (ilm) await installIlmPolicy(client, lifecycle);
  const components = loadComponentTemplates(dir);
  for (const [name, body] of components) {
    await client.cluster.putComponentTemplate({ name, template: body.template as never, _meta: body._meta });
    result.componentTemplates.push(name);
  }
  for (const [name, body] of loadIndexTemplates(dir)) {
    const { _meta, index_patterns, priority, composed_of, ignore_missing_component_templates } = body;
    const alias = _meta.write_alias;
    const tuned = tuning.refreshInterval ? { ...body.template, settings: { ...body.template?.settings, index: { ...(body.template?.settings?.index as object | undefined), refresh_interval: tuning.refreshInterval } } } : body.template;
    const template = ilm ? { ...tuned, settings: { ...tuned?.settings, ...ilmIndexSettings(alias) } } : tuned;
    await client.indices.putIndexTemplate({ name, index_patterns, priority, composed_of, ignore_missing_component_templates, template: template as never, _meta });
    result.indexTemplates.push(name);
    result.aliases.push(alias);
    if (await client.indices.existsAlias({ name: alias })) {
      // Templates only shape new indices. Additive fields (a new enrichment
      // field, the SLO component) must reach the current write index too, or
      // strict mappings would reject documents until the next rollover.
      const writeIndex = await currentWriteIndex(client, alias);
      if (writeIndex) {
        const sim = await client.indices.simulateIndexTemplate({ name: writeIndex });
        const mappings = sim.template.mappings as Record<string, unknown>;
        try {
          await client.indices.putMapping({ index: writeIndex, ...mappings } as never);
          result.mappingUpdated.push(writeIndex);
        } catch (err) {
          throw new Error(`the mapping of ${writeIndex} conflicts with the template schemas/elasticsearch/index/${name}.json: ${(err as Error).message}. A changed field type needs a new index: roll the alias ${alias} over to a new ${alias}-NNNNNN index.`);
        }
        // An index created before ILM was there (or before an upgrade) joins the policy too.
        if (ilm) await client.indices.putSettings({ index: writeIndex, settings: ilmIndexSettings(alias) });
        if (tuning.refreshInterval) await client.indices.putSettings({ index: writeIndex, settings: { index: { refresh_interval: tuning.refreshInterval } } });
      }
      continue;
    }
    const index = `${alias}-000001`;
    try {
      await client.indices.create({ index, aliases: { [alias]: { is_write_index: true } } });
      result.created.push(index);
    } catch (err) {
      if (errType(err) !== 'resource_already_exists_exception') throw err;
    }
  }
  log?.info({ dir, ...result, ...(ilm ? { ilmPolicy: lifecycle } : {}) }, 'Elasticsearch templates and write aliases ready');
  return result;
}

async function currentWriteIndex(client: Client, alias: string): Promise<string | undefined> {
  const res = await client.indices.getAlias({ name: alias });
  const entries = Object.entries(res);
  const writer = entries.find(([, v]) => (v.aliases[alias] as { is_write_index?: boolean } | undefined)?.is_write_index);
  return (writer ?? (entries.length === 1 ? entries[0] : undefined))?.[0];
}
