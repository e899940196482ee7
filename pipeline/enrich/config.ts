import { dirname, resolve } from 'node:path';
import cron from 'node-cron';
import { CidrSet } from '../../lib/cidr.js';
import { checkYaml, type YamlFile } from '../../lib/config-file.js';
import { ConfigError, type Problem } from '../../lib/errors.js';
import { readFileSync } from 'node:fs';

// The pipeline's YAML config (schemas/pipeline-config.schema.json), read
// through the one YAML + ajv loader (lib/config-file.ts), so every problem is
// printed as file:line:col: field: message, like every other config file.

export interface PipelineConfig {
  internal_cidrs?: string[];
  zones?: Record<string, string[]>;
  node_groups?: Record<string, string[]>;
  environments?: Array<{ environment: string; zone?: string; host?: string }>;
  rules?: string | string[];
  services?: string;
  state_dir?: string;
  snapshot_interval_s?: number;
  slo_summary_cron?: string;
  /** Partitions without a committed offset start at the oldest retained record (earliest, default) or at the end. */
  offset_reset?: 'earliest' | 'latest';
  /** Records with an event time further ahead of the pipeline clock are dead-lettered (default 300). */
  max_future_skew_s?: number;
  /** /metrics and /healthz listener. Absent: none (the CLI serves 127.0.0.1:9466 by default). */
  metrics?: { port: number; host?: string };
  /** index.refresh_interval of the connaudit indices (e.g. 1s, 5s): the searchable-after delay vs indexing cost. */
  index_refresh_interval?: string;
  /** Index rollover and retention (pipeline/lifecycle.ts). */
  lifecycle?: Partial<import('../lifecycle.js').LifecycleSettings>;
  /** When event time moves without records, and which records count as late (pipeline/watermark.ts). */
  watermark?: { idle_timeout_s?: number; allowed_lateness_s?: number };
}

export const SCHEMA_FILE = 'pipeline-config.schema.json';
const HINT = 'fix the lines named above (schema: schemas/pipeline-config.schema.json)';

export { ConfigError };

/** Checks the schema cannot express: CIDR octets and prefix lengths, zone references, cron syntax. */
function semanticProblems(cfg: PipelineConfig, src: YamlFile): Problem[] {
  const problems: Problem[] = [];
  const cidrLists: Array<[Array<string | number>, string[]]> = [[['internal_cidrs'], cfg.internal_cidrs ?? []], ...Object.entries(cfg.zones ?? {}).map(([z, l]) => [['zones', z], l] as [Array<string | number>, string[]])];
  for (const [path, list] of cidrLists) {
    list.forEach((c, i) => {
      // A bare address would silently mean /32 or /128; ranges must say their prefix.
      if (!c.includes('/')) {
        problems.push(src.problem([...path, i], `not a CIDR: ${JSON.stringify(c)} has no prefix length (want e.g. 10.0.0.0/8 or fd00::/8)`));
        return;
      }
      try {
        new CidrSet([c]);
      } catch (err) {
        problems.push(src.problem([...path, i], (err as Error).message));
      }
    });
  }
  for (const [i, e] of (cfg.environments ?? []).entries()) {
    if (e.zone && !cfg.zones?.[e.zone]) problems.push(src.problem(['environments', i, 'zone'], `names zone ${JSON.stringify(e.zone)}, which is not under zones`));
  }
  if (cfg.slo_summary_cron !== undefined && !cron.validate(cfg.slo_summary_cron)) {
    problems.push(src.problem(['slo_summary_cron'], `${JSON.stringify(cfg.slo_summary_cron)} is not a cron expression (e.g. '0 * * * *' for hourly)`));
  }
  return problems;
}

/** Parses and validates config text. `file` is used in messages and to resolve relative paths. */
export function parseConfig(text: string, file: string): PipelineConfig {
  const { src, value, problems } = checkYaml(text, file, SCHEMA_FILE);
  if (problems.length > 0) throw new ConfigError(problems, HINT);
  const cfg = value as PipelineConfig;
  const more = semanticProblems(cfg, src);
  if (more.length > 0) throw new ConfigError(more, HINT);
  const base = dirname(resolve(file));
  if (cfg.services) cfg.services = resolve(base, cfg.services);
  if (cfg.state_dir) cfg.state_dir = resolve(base, cfg.state_dir);
  if (cfg.rules) cfg.rules = Array.isArray(cfg.rules) ? cfg.rules.map((r) => resolve(base, r)) : resolve(base, cfg.rules);
  return cfg;
}

export function loadConfig(file: string): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw ConfigError.at({ file }, `cannot read the pipeline config (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, 'check the path given to --config');
  }
  return parseConfig(text, file);
}
