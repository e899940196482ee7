import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import AjvModule from 'ajv';
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Node } from 'yaml';
import { TOPIC_CONNECTIONS } from '../lib/names.js';
import { parseCidr, type KernelFilters } from './bpf-config.js';
import { fromRoot } from '../lib/paths.js';

// The agent's YAML configuration, validated against
// schemas/agent-config.schema.json. Every error names file:line and the key.

export interface AgentConfig {
  host: string;
  environment: string | null;
  nodeGroup: string | null;
  labels: Record<string, string>;
  /** netns inode -> host.name (paths already resolved to inodes). */
  netnsHosts: Map<number, string>;
  filters: KernelFilters;
  interimIntervalS: number;
  healthIntervalS: number;
  spool: { dir: string; maxBytes: number };
  topic: string;
  bpfObject: string;
  sensor: { maxConnections: number; maxListeners: number; ringBufferBytes: number; scanExistingSockets: boolean };
}

/** One encoded record is ~180 bytes plus framing; below this the spool drops everything. */
const MIN_SPOOL_BYTES = 4096;

export class ConfigError extends Error {
  constructor(readonly file: string, readonly line: number, readonly key: string, message: string) {
    super(`${file}${line > 0 ? `:${line}` : ''}: ${key ? `${key}: ` : ''}${message}`);
    this.name = 'ConfigError';
  }
}


const Ajv = AjvModule.default ?? AjvModule;
let validator: ReturnType<InstanceType<typeof Ajv>['compile']> | null = null;
function validate() {
  if (!validator) {
    const schema = JSON.parse(readFileSync(fromRoot('schemas/agent-config.schema.json'), 'utf8')) as object;
    validator = new Ajv({ allErrors: true, strict: false, verbose: true }).compile(schema);
  }
  return validator;
}

interface Raw {
  host?: string; environment?: string; node_group?: string; labels?: Record<string, string>;
  netns_hosts?: Record<string, string>;
  filters?: { ignore_loopback?: boolean; ignore_ports?: number[]; ignore_cidrs?: string[] };
  rate_limit?: { per_cpu_per_sec?: number; burst?: number; sample_one_in?: number };
  interim_interval_s?: number; health_interval_s?: number;
  spool?: { dir?: string; max_bytes?: number };
  kafka?: { topic?: string };
  bpf_object?: string;
  sensor?: { max_connections?: number; max_listeners?: number; ring_buffer_bytes?: number; scan_existing_sockets?: boolean; only_netns?: Array<string | number> };
}

/** Line (1-based) of the node at a JSON pointer; for a missing/extra key, of the key itself. */
function lineOf(doc: ReturnType<typeof parseDocument>, lc: LineCounter, path: string[], extraKey?: string): number {
  let node: unknown = doc.contents;
  for (const seg of path) {
    if (!isMap(node) && !(node && typeof node === 'object' && 'items' in node)) break;
    const items = (node as { items: unknown[] }).items;
    const next = isMap(node)
      ? items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg)
      : items[Number(seg)];
    if (!next) break;
    node = isPair(next) ? next.value : next;
  }
  if (extraKey && isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === extraKey);
    if (pair && isScalar(pair.key) && pair.key.range) return lc.linePos(pair.key.range[0]).line;
  }
  const range = (node as Node | null)?.range;
  return range ? lc.linePos(range[0]).line : 1;
}

export function parseConfig(text: string, file: string, defaults: { hostname?: string } = {}): AgentConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new ConfigError(file, lc.linePos(e.pos[0]).line, '', `not valid YAML: ${e.message.split('\n')[0]}`);
  }
  const raw = (doc.toJS() ?? {}) as Raw;
  const v = validate();
  if (!v(raw)) {
    const err = v.errors![0]!;
    const path = err.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const params = err.params as { additionalProperty?: string; propertyName?: string };
    // A bad key name (propertyNames) is reported on the key, not on its parent map.
    const extra = params.additionalProperty ?? err.propertyName ?? params.propertyName;
    const key = [...path, ...(extra ? [extra] : [])].join('.') || '(top level)';
    const msg = params.additionalProperty
      ? `unknown key (allowed: ${Object.keys((err.parentSchema as { properties?: object }).properties ?? {}).join(', ')})`
      : `${extra ? 'key name ' : ''}${err.message ?? 'invalid'}`;
    throw new ConfigError(file, lineOf(doc, lc, path, extra), key, msg);
  }
  const netnsHosts = new Map<number, string>();
  for (const [k, hostName] of Object.entries(raw.netns_hosts ?? {})) {
    if (/^[0-9]+$/.test(k)) { netnsHosts.set(Number(k), hostName); continue; }
    try {
      netnsHosts.set(statSync(k).ino, hostName);
    } catch (e) {
      throw new ConfigError(file, lineOf(doc, lc, ['netns_hosts'], k), `netns_hosts.${k}`, `cannot stat the namespace (${(e as NodeJS.ErrnoException).code}); create it first (ip netns add NAME) or use its inode number`);
    }
  }
  const onlyNetns = (raw.sensor?.only_netns ?? []).map((k, i) => {
    if (typeof k === 'number' || /^[0-9]+$/.test(k)) return Number(k);
    try { return statSync(k).ino; } catch (e) {
      throw new ConfigError(file, lineOf(doc, lc, ['sensor', 'only_netns', String(i)]), `sensor.only_netns.${i}`, `cannot stat the namespace (${(e as NodeJS.ErrnoException).code}); create it first or use its inode number`);
    }
  });
  // The schema's pattern only checks the shape; an unusable CIDR would otherwise
  // surface later from the kernel-filter builder, without file or line.
  (raw.filters?.ignore_cidrs ?? []).forEach((c, i) => {
    try {
      parseCidr(c);
    } catch (e) {
      throw new ConfigError(file, lineOf(doc, lc, ['filters', 'ignore_cidrs', String(i)]), `filters.ignore_cidrs.${i}`, `${(e as Error).message}; write ADDRESS/PREFIX, e.g. 169.254.0.0/16 or fd00::/8`);
    }
  });
  const maxBytes = raw.spool?.max_bytes;
  if (maxBytes !== undefined && maxBytes < MIN_SPOOL_BYTES) {
    throw new ConfigError(file, lineOf(doc, lc, ['spool', 'max_bytes']), 'spool.max_bytes', `${maxBytes} cannot hold even one record; use at least ${MIN_SPOOL_BYTES} (the default is 268435456)`);
  }
  const rl = raw.rate_limit ?? {};
  const ringBytes = raw.sensor?.ring_buffer_bytes ?? 8 << 20;
  if ((ringBytes & (ringBytes - 1)) !== 0) {
    throw new ConfigError(file, lineOf(doc, lc, ['sensor', 'ring_buffer_bytes']), 'sensor.ring_buffer_bytes', `${ringBytes} is not a power of two; the kernel requires one (e.g. 8388608)`);
  }
  return {
    host: raw.host ?? defaults.hostname ?? os.hostname(),
    environment: raw.environment ?? null,
    nodeGroup: raw.node_group ?? null,
    labels: raw.labels ?? {},
    netnsHosts,
    filters: {
      ignoreLoopback: raw.filters?.ignore_loopback ?? true,
      ignorePorts: raw.filters?.ignore_ports ?? [],
      ignoreCidrs: raw.filters?.ignore_cidrs ?? [],
      ratePerSec: rl.per_cpu_per_sec ?? 0,
      burst: rl.burst ?? rl.per_cpu_per_sec ?? 0,
      sampleN: rl.sample_one_in ?? 0,
      ...(onlyNetns.length > 0 ? { onlyNetns } : {}),
    },
    interimIntervalS: raw.interim_interval_s ?? 60,
    healthIntervalS: raw.health_interval_s ?? 30,
    spool: { dir: raw.spool?.dir ?? '/var/lib/connaudit/spool', maxBytes: raw.spool?.max_bytes ?? 256 * 1024 * 1024 },
    topic: raw.kafka?.topic ?? TOPIC_CONNECTIONS,
    bpfObject: raw.bpf_object ?? fromRoot('bpf/connaudit.bpf.o'),
    sensor: {
      maxConnections: raw.sensor?.max_connections ?? 131_072,
      maxListeners: raw.sensor?.max_listeners ?? 16_384,
      ringBufferBytes: ringBytes,
      scanExistingSockets: raw.sensor?.scan_existing_sockets ?? true,
    },
  };
}

export function loadConfig(file: string | undefined): AgentConfig {
  if (!file) return parseConfig('', '(defaults)');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, 0, '', `cannot read the config file (${(e as NodeJS.ErrnoException).code})`);
  }
  return parseConfig(text, file);
}
