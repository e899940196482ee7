import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import { loadYamlConfig, parseYamlConfig, type YamlFile } from '../lib/config-file.js';
import { ConfigError } from '../lib/errors.js';
import { COMPRESSION_NAMES, type CompressionName } from '../lib/kafka-codecs.js';
import { TOPIC_CONNECTIONS } from '../lib/names.js';
import { parseCidr, type KernelFilters } from './bpf-config.js';
import { DEFAULT_STOP_DRAIN_S } from './sensor.js';
import { fromRoot } from '../lib/paths.js';

// The agent's YAML configuration, validated against
// schemas/agent-config.schema.json by lib/config-file.ts. Every error names
// file:line:col and the key.

export { ConfigError };

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
  compression: CompressionName;
  maxMessageBytes: number;
  /** /metrics and /healthz listener; null when disabled. */
  metrics: { host: string; port: number } | null;
  /** Run as this user once the programs are attached (null: stay as started). */
  user: string | null;
  bpfObject: string;
  sensor: { maxConnections: number; maxListeners: number; ringBufferBytes: number; scanExistingSockets: boolean; maxUdpFlows: number; udpIdleTimeoutS: number; cgroupPath: string; stopDrainS: number };
  dns: { enabled: boolean; timeoutS: number; maxPending: number; cacheEntries: number; cacheMinTtlS: number; ringBufferBytes: number };
}

/** Where cgroup2 is mounted: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones. */
export function defaultCgroupPath(): string {
  return existsSync('/sys/fs/cgroup/cgroup.controllers') || !existsSync('/sys/fs/cgroup/unified/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
}

/** One encoded record is ~180 bytes plus framing; below this the spool drops everything. */
const MIN_SPOOL_BYTES = 4096;
export const DEFAULT_METRICS_PORT = 9465;
const SCHEMA = 'agent-config.schema.json';
const HINT = 'fix the key named above; the schema is schemas/agent-config.schema.json';

interface Raw {
  host?: string; environment?: string; node_group?: string; labels?: Record<string, string>;
  netns_hosts?: Record<string, string>;
  filters?: { ignore_loopback?: boolean; ignore_ports?: number[]; ignore_cidrs?: string[] };
  rate_limit?: { per_cpu_per_sec?: number; burst?: number; sample_one_in?: number };
  interim_interval_s?: number; health_interval_s?: number;
  spool?: { dir?: string; max_bytes?: number };
  kafka?: { topic?: string; compression?: CompressionName; max_message_bytes?: number };
  metrics?: { enabled?: boolean; host?: string; port?: number };
  user?: string;
  bpf_object?: string;
  sensor?: { max_connections?: number; max_listeners?: number; ring_buffer_bytes?: number; scan_existing_sockets?: boolean; only_netns?: Array<string | number>; max_udp_flows?: number; udp_idle_timeout_s?: number; cgroup_path?: string; stop_drain_s?: number };
  dns?: { enabled?: boolean; timeout_s?: number; max_pending?: number; cache_entries?: number; cache_min_ttl_s?: number; ring_buffer_bytes?: number };
}

const fail = (src: YamlFile, path: Array<string | number>, message: string, key?: string): never => {
  throw new ConfigError([src.problem(path, message, key)], HINT);
};

export function parseConfig(text: string, file: string, defaults: { hostname?: string } = {}): AgentConfig {
  const { src, value } = parseYamlConfig<Raw | null>(text, file, SCHEMA, HINT);
  return build(src, value ?? {}, defaults);
}

function build(src: YamlFile, raw: Raw, defaults: { hostname?: string }): AgentConfig {
  const netnsHosts = new Map<number, string>();
  for (const [k, hostName] of Object.entries(raw.netns_hosts ?? {})) {
    if (/^[0-9]+$/.test(k)) { netnsHosts.set(Number(k), hostName); continue; }
    try {
      netnsHosts.set(statSync(k).ino, hostName);
    } catch (e) {
      fail(src, ['netns_hosts'], `cannot stat the namespace (${(e as NodeJS.ErrnoException).code}); create it first (ip netns add NAME) or use its inode number`, k);
    }
  }
  const onlyNetns = (raw.sensor?.only_netns ?? []).map((k, i) => {
    if (typeof k === 'number' || /^[0-9]+$/.test(k)) return Number(k);
    try { return statSync(k).ino; } catch (e) {
      return fail(src, ['sensor', 'only_netns', i], `cannot stat the namespace (${(e as NodeJS.ErrnoException).code}); create it first or use its inode number`);
    }
  });
  // The schema's pattern only checks the shape; an unusable CIDR would otherwise
  // surface later from the kernel-filter builder, without file or line.
  (raw.filters?.ignore_cidrs ?? []).forEach((c, i) => {
    try {
      parseCidr(c);
    } catch (e) {
      fail(src, ['filters', 'ignore_cidrs', i], `${(e as Error).message}; write ADDRESS/PREFIX, e.g. 169.254.0.0/16 or fd00::/8`);
    }
  });
  const maxBytes = raw.spool?.max_bytes;
  if (maxBytes !== undefined && maxBytes < MIN_SPOOL_BYTES) {
    fail(src, ['spool', 'max_bytes'], `${maxBytes} cannot hold even one record; use at least ${MIN_SPOOL_BYTES} (the default is 268435456)`);
  }
  const dnsRing = raw.dns?.ring_buffer_bytes ?? 4 << 20;
  if ((dnsRing & (dnsRing - 1)) !== 0) fail(src, ['dns', 'ring_buffer_bytes'], `${dnsRing} is not a power of two; the kernel requires one (e.g. 4194304)`);
  const rl = raw.rate_limit ?? {};
  const ringBytes = raw.sensor?.ring_buffer_bytes ?? 8 << 20;
  if ((ringBytes & (ringBytes - 1)) !== 0) {
    fail(src, ['sensor', 'ring_buffer_bytes'], `${ringBytes} is not a power of two; the kernel requires one (e.g. 8388608)`);
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
    compression: raw.kafka?.compression ?? 'zstd',
    maxMessageBytes: raw.kafka?.max_message_bytes ?? 1_000_000,
    metrics: raw.metrics?.enabled === false ? null : { host: raw.metrics?.host ?? '127.0.0.1', port: raw.metrics?.port ?? DEFAULT_METRICS_PORT },
    user: raw.user ?? null,
    bpfObject: raw.bpf_object ?? fromRoot('bpf/connaudit.bpf.o'),
    sensor: {
      maxConnections: raw.sensor?.max_connections ?? 131_072,
      maxListeners: raw.sensor?.max_listeners ?? 16_384,
      ringBufferBytes: ringBytes,
      scanExistingSockets: raw.sensor?.scan_existing_sockets ?? true,
      maxUdpFlows: raw.sensor?.max_udp_flows ?? 65_536,
      udpIdleTimeoutS: raw.sensor?.udp_idle_timeout_s ?? 60,
      cgroupPath: raw.sensor?.cgroup_path ?? defaultCgroupPath(),
      stopDrainS: raw.sensor?.stop_drain_s ?? DEFAULT_STOP_DRAIN_S,
    },
    dns: {
      enabled: raw.dns?.enabled ?? true,
      timeoutS: raw.dns?.timeout_s ?? 5,
      maxPending: raw.dns?.max_pending ?? 65_536,
      cacheEntries: raw.dns?.cache_entries ?? 100_000,
      cacheMinTtlS: raw.dns?.cache_min_ttl_s ?? 1,
      ringBufferBytes: dnsRing,
    },
  };
}

export function loadConfig(file: string | undefined): AgentConfig {
  if (!file) return parseConfig('', '(defaults)');
  const { src, value } = loadYamlConfig<Raw | null>(file, SCHEMA, HINT);
  return build(src, value ?? {}, {});
}

/** Names accepted by kafka.compression, for help texts. */
export const COMPRESSION_CHOICES = COMPRESSION_NAMES;
