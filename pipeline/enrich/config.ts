import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, isMap, isNode, isScalar, parseDocument } from 'yaml';
import cron from 'node-cron';
import { CidrSet } from '../../lib/cidr.js';
import { fromRoot } from '../../lib/paths.js';

// The pipeline's YAML config (schemas/pipeline-config.schema.json). Errors
// carry file:line:col from the YAML source, as rule files do, so an operator
// goes straight to the offending line.

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
  /** Index rollover and retention (pipeline/lifecycle.ts). */
  lifecycle?: Partial<import('../lifecycle.js').LifecycleSettings>;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

function schemaFile(): string {
  return fromRoot('schemas/pipeline-config.schema.json');
}

let validator: ReturnType<Ajv['compile']> | undefined;
function validate(): ReturnType<Ajv['compile']> {
  validator ??= new Ajv({ allErrors: true, strict: true, strictRequired: false }).compile(JSON.parse(readFileSync(schemaFile(), 'utf8')) as object);
  return validator;
}

function describe(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return `unknown key ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
  if (e.keyword === 'pattern') return 'is not a CIDR (want e.g. 10.0.0.0/8 or fd00::/8)';
  return e.message ?? e.keyword;
}

/** Parses and validates config text. `file` is used in messages and to resolve relative paths. */
export function parseConfig(text: string, file: string): PipelineConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const at = (offset: number | undefined): string => {
    if (offset === undefined) return `${file}:1:1`;
    const p = lc.linePos(offset);
    return `${file}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0) throw new ConfigError(doc.errors.map((e) => `${at(e.pos[0])}: YAML: ${e.message.split('\n')[0]}`));
  const value = (doc.toJS() ?? {}) as unknown;
  const v = validate();
  const problems: string[] = [];
  if (!v(value)) {
    for (const e of v.errors ?? []) {
      const path = e.instancePath.split('/').slice(1).map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
      let node = path.length === 0 ? doc.contents : doc.getIn(path, true);
      // An unknown key is reported on its parent; point at the key itself.
      if (e.keyword === 'additionalProperties' && isMap(node)) {
        const extra = (e.params as { additionalProperty: string }).additionalProperty;
        node = node.items.find((p) => isScalar(p.key) && p.key.value === extra)?.key as typeof node;
      }
      const where = isNode(node) ? at(node.range?.[0]) : at(undefined);
      problems.push(`${where}: ${e.instancePath ? `${e.instancePath.slice(1).replace(/\//g, '.')} ` : ''}${describe(e)}`);
    }
    throw new ConfigError(problems);
  }
  const cfg = value as PipelineConfig;
  // The pattern only checks the shape; the prefix length and octets need real parsing.
  const cidrLists: Array<[string, string[]]> = [['internal_cidrs', cfg.internal_cidrs ?? []], ...Object.entries(cfg.zones ?? {}).map(([z, l]) => [`zones.${z}`, l] as [string, string[]])];
  for (const [key, list] of cidrLists) {
    list.forEach((c, i) => {
      try {
        new CidrSet([c]);
      } catch (err) {
        const node = doc.getIn([...key.split('.'), i], true);
        problems.push(`${isNode(node) ? at(node.range?.[0]) : at(undefined)}: ${key}[${i}] ${(err as Error).message}`);
      }
    });
  }
  for (const [i, e] of (cfg.environments ?? []).entries()) {
    if (e.zone && !cfg.zones?.[e.zone]) {
      const node = doc.getIn(['environments', i, 'zone'], true);
      problems.push(`${isNode(node) ? at(node.range?.[0]) : at(undefined)}: environments[${i}].zone names zone ${JSON.stringify(e.zone)}, which is not under zones`);
    }
  }
  if (cfg.slo_summary_cron !== undefined && !cron.validate(cfg.slo_summary_cron)) {
    const node = doc.getIn(['slo_summary_cron'], true);
    problems.push(`${isNode(node) ? at(node.range?.[0]) : at(undefined)}: slo_summary_cron ${JSON.stringify(cfg.slo_summary_cron)} is not a cron expression (e.g. '0 * * * *' for hourly)`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
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
    throw new ConfigError([`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  return parseConfig(text, file);
}
