import type { Logger } from '../lib/log.js';
import type { ConnectionRecord } from '../lib/record.js';
import { buildConfigBlob } from './bpf-config.js';
import { BootClock } from './clock.js';
import type { AgentConfig } from './config.js';
import type { CaEvent } from './event-decoder.js';
import { raiseMemlock } from './memlock.js';
import { ProcCache } from './proc.js';
import { buildRecord, readBootId, type BuildContext } from './record-builder.js';
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
  // Walk often enough that an interim is at most ~1/4 interval late, but not more than once a second.
  const walkIntervalMs = Math.max(1000, Math.min(5000, (cfg.interimIntervalS * 1000) / 4));
  const sensor = new Sensor({
    objectPath: cfg.bpfObject, configBlob: buildConfigBlob(cfg.filters), log, walkIntervalMs,
    mapSizes: { sockets: cfg.sensor.maxConnections, listeners: cfg.sensor.maxListeners },
    ringBytes: cfg.sensor.ringBufferBytes, seed: cfg.sensor.scanExistingSockets, interimIntervalS: cfg.interimIntervalS,
  });
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

  const emit = (ev: CaEvent, kind: 'final' | 'interim', atNs?: bigint): void => {
    let rec: ConnectionRecord;
    try {
      rec = buildRecord(ev, kind, ctx, atNs);
    } catch (e) {
      log.error({ err: (e as Error).message, sock: ev.sock_id.toString() }, 'could not build a record; skipped');
      return;
    }
    if (o.count !== undefined && written >= o.count) return;
    written++;
    health.recordsTotal++;
    chain = chain.then(() => sink.write(rec)).catch((e: Error) => { fatal ??= e; requestStop(`sink failed: ${e.message}`); });
    if (o.count !== undefined && written >= o.count) requestStop(`--count ${o.count} reached`);
  };

  sensor.on('events', (evs: CaEvent[]) => {
    for (const ev of evs) emit(ev, 'final');
    // Bounds the records between the kernel and the sink: the sensor reads more only as these are written.
    chain = chain.then(() => sensor.release(evs.length));
  });
  sensor.on('snapshot', (s: Snapshot) => {
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
    };
    const drops = sum(s.stats.ringbufDrops);
    if (drops > prevDrops) log.warn({ ringbuf_drops: drops, new: drops - prevDrops, per_cpu: health.ringbufDropsPerCpu }, 'ring buffer full: the kernel dropped connection records');
    const untracked = (health.untrackedMapFull ?? 0) + (health.untrackedNomem ?? 0) + (health.untrackedOther ?? 0);
    if (untracked > untrackedSeen) {
      log.warn({ untracked_map_full: health.untrackedMapFull, untracked_nomem: health.untrackedNomem, untracked_other: health.untrackedOther, max_connections: cfg.sensor.maxConnections, new: untracked - untrackedSeen },
        'connections not tracked (counted in agent health): raise sensor.max_connections if untracked_map_full grows');
    }
    untrackedSeen = untracked;
    if (stopping) return;
    // Read /proc while owners are alive: a short-lived client has often exited
    // by the time its final record arrives, and then only the cache knows its exe.
    for (const [pid, ppid] of s.owners) procCache.lookup(pid, ppid || null);
    for (const d of s.due) emit(d.ev, d.kind, d.atNs);
  });
  sensor.on('fatal', (e: Error) => { fatal ??= e; requestStop(`sensor failed: ${e.message}`); });

  const ml = raiseMemlock();
  if (ml.needed && !ml.raised) log.warn(ml.detail); else log.debug(ml.detail);
  await sensor.start();
  health = emptyHealth(sensor.cpus);
  o.onReady?.();
  const onSignal = (sig: string) => () => requestStop(sig);
  const sigint = onSignal('SIGINT');
  const sigterm = onSignal('SIGTERM');
  process.once('SIGINT', sigint);
  process.once('SIGTERM', sigterm);
  o.signal?.addEventListener('abort', () => requestStop('aborted by caller'), { once: true });
  const durationTimer = o.durationS !== undefined ? setTimeout(() => requestStop(`--duration ${o.durationS}s elapsed`), o.durationS * 1000) : null;
  const healthTimer = setInterval(() => {
    chain = chain.then(() => sink.reportHealth({ ...health })).catch((e: Error) => log.warn({ err: e.message }, 'health report failed'));
  }, cfg.healthIntervalS * 1000);

  await done;
  if (durationTimer) clearTimeout(durationTimer);
  clearInterval(healthTimer);
  process.off('SIGINT', sigint);
  process.off('SIGTERM', sigterm);
  await sensor.stop(); // delivers the last ring-buffer batch first
  await chain;
  await sink.reportHealth({ ...health }).catch((e: Error) => log.warn({ err: e.message }, 'last health report failed'));
  await sink.close();
  log.info({ records: written, ringbuf_drops: health.ringbufDropsPerCpu.reduce((a, b) => a + b, 0), sampled_out: health.sampledOut, filtered: health.filtered }, 'agent stopped');
  if (fatal) throw fatal;
}
