import { esClientOptions } from '../lib/connect.js';
import { probeEs } from './es-client.js';
import { defaultEsInstance, esInstanceState } from './elasticsearch.js';
import { displayUrl, targets } from './external.js';
import { kafkaStatus, type ServiceStatus } from './kafka.js';

// `services status`: for the local services, what we started (pid, version,
// JDK, data dir) plus a live health probe; for external clusters, only
// whether they answer.

export type { ServiceStatus };

export async function esStatus(env: NodeJS.ProcessEnv = process.env): Promise<ServiceStatus> {
  const t = targets(env);
  const probe = await probeEs(esClientOptions(env), 500);
  const base: ServiceStatus = {
    service: 'elasticsearch', managed: t.es.local, running: probe.ok || probe.httpStatus !== undefined, healthy: probe.ok,
    endpoint: displayUrl(t.es.url), version: probe.version,
    detail: probe.status ? { clusterStatus: probe.status, clusterName: probe.clusterName, jvm: probe.jvm } : undefined,
    error: probe.ok ? undefined : probe.error,
  };
  if (!t.es.local) return base;
  const def = defaultEsInstance(0);
  const inst = esInstanceState(def.dir, def.clusterName);
  return {
    ...base,
    running: inst.pid !== undefined || base.running,
    pid: inst.pid,
    version: probe.version ?? inst.state?.version,
    jdk: inst.state ? `${inst.state.jdk.version} (${inst.state.jdk.home})` : probe.jvm,
    jdkNote: inst.state?.jdkNote,
    dataDir: inst.pid !== undefined || !probe.ok ? inst.dataDir : undefined,
    logFile: inst.pid !== undefined || !probe.ok ? inst.logFile : undefined,
  };
}

export async function allStatus(env: NodeJS.ProcessEnv = process.env): Promise<ServiceStatus[]> {
  const t = targets(env);
  return Promise.all([kafkaStatus(t.kafka.brokers, t.kafka.local), esStatus(env)]);
}

export function formatStatus(list: ServiceStatus[]): string {
  const out: string[] = [];
  for (const s of list) {
    const state = s.healthy ? 'running, healthy' : s.running ? 'running, NOT healthy' : 'not running';
    out.push(`${s.service}: ${state}${s.managed ? '' : ' (external, not managed by connaudit)'}`);
    const row = (k: string, v: unknown) => { if (v !== undefined && v !== null && v !== '') out.push(`  ${k.padEnd(9)} ${String(v)}`); };
    row('endpoint', s.endpoint);
    row('pid', s.pid);
    row('version', s.version);
    row('jdk', s.jdk);
    row('jdk note', s.jdkNote);
    row('data', s.dataDir);
    row('log', s.logFile);
    if (s.detail) for (const [k, v] of Object.entries(s.detail)) row(k, Array.isArray(v) ? v.join(', ') : v);
    row('error', s.error);
  }
  return out.join('\n');
}
