import type { Logger } from '../lib/log.js';
import type { ConnectionRecord } from '../lib/record.js';
import { buildConfigBlob } from './bpf-config.js';
import { BootClock, bootNs } from './clock.js';
import type { AgentConfig } from './config.js';
import type { DnsEvent } from './dns-decoder.js';
import { registerDnsMetrics } from './dns-metrics.js';
import { DnsTracker, type DnsCounters } from './dns-tracker.js';
import type { CaEvent } from './event-decoder.js';
import { raiseMemlock } from './memlock.js';
import { ProcCache } from './proc.js';
import { buildRecord, readBootId, type BuildContext } from './record-builder.js';
import { createRegistry, startAdminServer, type AdminServer } from '../lib/metrics.js';
import { agentHealthCheck, registerAgentMetrics, type AgentMetricsSource } from './metrics.js';
import { ENRICH_CAPS, narrowThread, threadCaps, type PrivilegeDrop } from './privileges.js';
import { Sensor, type Snapshot } from './sensor.js';
import { emptyHealth, type HealthCounters, type RecordSink } from './sink.js';

// One live agent run: sensor worker -> records -> sink, with interim records,
// loss accounting and a clean stop (signal, --duration or --count).

export interface RunOptions {
  cfg: AgentConfig;
  sink: RecordSink;
  log: Logger;
  agentVersion: string;
  durationS?: number;
  count?: number;
  /** Called once the programs are attached (tests and the CLI print readiness). */
  onReady?: () => void;
  /** Stops the run like SIGTERM (for callers that embed the agent, e.g. the bench). */
  signal?: AbortSignal;
  /**
   * Drop privileges once attached (the CLI always does; callers embedding the
   * agent in a larger process, like tests, leave it off: the drop is process-wide).
   */
  privileges?: PrivilegeDrop;
  /** /metrics and /healthz listener; the CLI passes cfg.metrics, embedders none (their tests run in parallel). */
  metrics?: { host: string; port: number } | null;
  /** Called with the bound /metrics port (tests use port 0). */
  onMetrics?: (port: number) => void;
}

const sum = (xs: bigint[]): number => Number(xs.reduce((a, b) => a + b, 0n));

export async function runAgent(o: RunOptions): Promise<void> {
  const { cfg, sink, log } = o;
  const clock = new BootClock();
  const procCache = new ProcCache();
  const ctx: BuildContext = {
    cfg, bootId: readBootId(), agentVersion: o.agentVersion,
    toWallUs: (ns) => clock.toWallUs(ns),
    proc: (pid, ppid) => procCache.lookup(pid, ppid),
  };
  // Walk often enough that an interim (or a UDP idle close) is at most ~1/4 interval late, but not more than once a second.
  const walkIntervalMs = Math.max(1000, Math.min(5000, (Math.min(cfg.interimIntervalS, cfg.sensor.udpIdleTimeoutS) * 1000) / 4));
  const sensor = new Sensor({
    objectPath: cfg.bpfObject, configBlob: buildConfigBlob(cfg.filters), log, walkIntervalMs,
    mapSizes: { sockets: cfg.sensor.maxConnections, listeners: cfg.sensor.maxListeners, udpFlows: cfg.sensor.maxUdpFlows },
    ringBytes: cfg.sensor.ringBufferBytes, seed: cfg.sensor.scanExistingSockets, interimIntervalS: cfg.interimIntervalS,
    udpIdleTimeoutS: cfg.sensor.udpIdleTimeoutS, cgroupPath: cfg.sensor.cgroupPath, stopDrainS: cfg.sensor.stopDrainS,
    ...(o.privileges ? { privileges: o.privileges } : {}),
    dns: cfg.dns.enabled ? { cgroupPath: cfg.sensor.cgroupPath, ringBytes: cfg.dns.ringBufferBytes } : null,
  });
  const dns = cfg.dns.enabled ? new DnsTracker(cfg.dns, ctx, log) : null;
  let health: HealthCounters = emptyHealth(0);
  let written = 0;
  let untrackedSeen = 0;
  let stopping = false;
  let chain: Promise<void> = Promise.resolve();
  let fatal: Error | null = null;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => { resolveDone = r; });
  const requestStop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'agent stopping');
    resolveDone();
  };

  const write = (rec: ConnectionRecord): void => {
    if (o.count !== undefined && written >= o.count) return;
    written++;
    health.recordsTotal++;
    chain = chain.then(() => sink.write(rec)).catch((e: Error) => { fatal ??= e; requestStop(`sink failed: ${e.message}`); });
    if (o.count !== undefined && written >= o.count) requestStop(`--count ${o.count} reached`);
  };
  const emit = (ev: CaEvent, kind: 'final' | 'interim', atNs?: bigint): void => {
    let rec: ConnectionRecord;
    try {
      rec = buildRecord(ev, kind, ctx, atNs);
      dns?.nameDestination(rec, ev.netns, ev.start_ns);
    } catch (e) {
      log.error({ err: (e as Error).message, sock: ev.sock_id.toString() }, 'could not build a record; skipped');
      return;
    }
    write(rec);
  };
  const writeDns = (recs: ConnectionRecord[]): void => { for (const r of recs) write(r); };

  sensor.on('events', (evs: CaEvent[]) => {
    for (const ev of evs) emit(ev, 'final');
    // Bounds the records between the kernel and the sink: the sensor reads more only as these are written.
    chain = chain.then(() => sensor.release(evs.length));
  });
  sensor.on('dns', (evs: DnsEvent[]) => {
    if (dns) writeDns(dns.onEvents(evs, bootNs()));
  });
  sensor.on('snapshot', (s: Snapshot) => {
    dns?.setKernelCounters(s.dnsStats);
    if (dns && !stopping) writeDns(dns.expire(s.atNs));
    if (s.refreshError) log.warn({ err: s.refreshError }, 'refresh_bytes failed: interim records carry no byte counts');
    const prevDrops = health.ringbufDropsPerCpu.reduce((a, b) => a + b, 0);
    health = {
      ringbufDropsPerCpu: s.stats.ringbufDrops.map(Number),
      recordsTotal: health.recordsTotal,
      sampledOut: sum(s.stats.sampledOut),
      filtered: sum(s.stats.filtered),
      untrackedMapFull: sum(s.stats.untrackedMapFull),
      untrackedNomem: sum(s.stats.untrackedNomem),
      untrackedOther: sum(s.stats.untrackedOther),
      staleReplaced: sum(s.stats.staleReplaced),
      untracked: {
        ...health.untracked,
        state_map_full: sum(s.stats.untrackedMapFull),
        no_memory: sum(s.stats.untrackedNomem),
        map_error: sum(s.stats.untrackedOther),
      },
    };
    const drops = sum(s.stats.ringbufDrops);
    if (drops > prevDrops) log.warn({ ringbuf_drops: drops, new: drops - prevDrops, per_cpu: health.ringbufDropsPerCpu }, 'ring buffer full: the kernel dropped connection records');
    const untracked = (health.untrackedMapFull ?? 0) + (health.untrackedNomem ?? 0) + (health.untrackedOther ?? 0);
    if (untracked > untrackedSeen) {
      log.warn({ untracked_map_full: health.untrackedMapFull, untracked_nomem: health.untrackedNomem, untracked_other: health.untrackedOther, max_connections: cfg.sensor.maxConnections, new: untracked - untrackedSeen },
        'connections not tracked (counted in agent health): raise sensor.max_connections if untracked_map_full grows');
    }
    untrackedSeen = untracked;
    // The walk at stop brings only the UDP flows still open (one interim each): without them they would vanish.
    if (!stopping) {
      // Read /proc while owners are alive: a short-lived client has often exited
      // by the time its final record arrives, and then only the cache knows its exe.
      for (const [pid, ppid] of s.owners) procCache.lookup(pid, ppid || null);
    }
    for (const d of s.due) emit(d.ev, d.kind, d.atNs);
  });
  sensor.on('fatal', (e: Error) => { fatal ??= e; requestStop(`sensor failed: ${e.message}`); });

  let attached = false;
  const metricsAt = o.metrics ?? null;
  const admin = metricsAt ? await startMetrics(metricsAt, { sensor: () => health, transport: () => sink.transportCounters?.() ?? null, attached: () => attached }, () => dns?.counters() ?? null, log) : null;
  if (admin) o.onMetrics?.(admin.port);

  const ml = raiseMemlock();
  if (ml.needed && !ml.raised) log.warn(ml.detail); else log.debug(ml.detail);
  try {
    await sensor.start();
  } catch (e) {
    await admin?.close();
    throw e;
  }
  health = emptyHealth(sensor.cpus);
  attached = true;
  if (o.privileges) {
    // The worker already switched user and narrowed itself; this thread keeps
    // at most the same two capabilities plus CAP_SYS_PTRACE for /proc/PID/exe
    // (none after a user switch: then process.executable is read only where
    // that user may read it).
    narrowThread([...o.privileges.keep, ...ENRICH_CAPS]);
    log.info({ user: o.privileges.user?.name ?? '(unchanged)', keep: 'CAP_BPF,CAP_PERFMON (+CAP_SYS_PTRACE for /proc enrichment while uid 0)', cap_eff_main: threadCaps().effective.toString(16) }, 'privileges dropped after attach');
  }
  o.onReady?.();
  // A second signal while stopping cuts the ring-buffer drain short (the rest is counted as lost).
  const onSignal = (sig: string) => () => { if (stopping) { log.warn({ sig }, 'second signal: stopping now without draining the rest'); sensor.hurry(); } else requestStop(sig); };
  const sigint = onSignal('SIGINT');
  const sigterm = onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  o.signal?.addEventListener('abort', () => requestStop('aborted by caller'), { once: true });
  const durationTimer = o.durationS !== undefined ? setTimeout(() => requestStop(`--duration ${o.durationS}s elapsed`), o.durationS * 1000) : null;
  const healthTimer = setInterval(() => {
    chain = chain.then(() => sink.reportHealth({ ...health })).catch((e: Error) => log.warn({ err: e.message }, 'health report failed'));
  }, cfg.healthIntervalS * 1000);

  await done;
  if (durationTimer) clearTimeout(durationTimer);
  clearInterval(healthTimer);
  await sensor.stop(); // delivers the last ring-buffer batch first
  process.off('SIGINT', sigint);
  process.off('SIGTERM', sigterm);
  // Queries still waiting for an answer are recorded (close_reason unknown), not lost.
  if (dns) writeDns(dns.drain(bootNs()));
  health.ringUnreadAtStop = sensor.unreadAtStop;
  await chain;
  await sink.reportHealth({ ...health }).catch((e: Error) => log.warn({ err: e.message }, 'last health report failed'));
  await sink.close();
  await admin?.close();
  if (dns) {
    const c = dns.counters();
    log.info({ dns_transactions: c.join, dns_kernel: c.kernel, dns_unreadable: c.unreadable, named_records: c.named, cache_entries: c.cacheEntries, cache_evictions: c.cacheEvictions }, 'dns summary');
  }
  log.info({ records: written, ringbuf_drops: health.ringbufDropsPerCpu.reduce((a, b) => a + b, 0), ring_unread_at_stop: health.ringUnreadAtStop, sampled_out: health.sampledOut, filtered: health.filtered }, 'agent stopped');
  if (fatal) throw fatal;
}

async function startMetrics(at: { host: string; port: number }, src: AgentMetricsSource, dnsSrc: () => DnsCounters | null, log: Logger): Promise<AdminServer> {
  const registry = createRegistry('agent');
  registerAgentMetrics(registry, src);
  registerDnsMetrics(registry, dnsSrc);
  try {
    const server = await startAdminServer({ port: at.port, host: at.host, registry, health: agentHealthCheck(src) });
    log.info({ host: at.host, port: server.port }, 'metrics and health listening (/metrics, /healthz)');
    return server;
  } catch (e) {
    throw new Error(`cannot listen for /metrics on ${at.host}:${at.port} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); set metrics.port in the agent config to a free port, or metrics.enabled: false`);
  }
}
