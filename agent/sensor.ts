import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../lib/log.js';
import { decodeDnsEvent, DNS_EVENT_SIZE, type DnsEvent } from './dns-decoder.js';
import { decodeEvent, EVENT_SIZE, type CaEvent } from './event-decoder.js';
import type { Due } from './interim.js';
import type { PrivilegeDrop } from './privileges.js';
import type { DnsStatsSnapshot, SeedSummary, SensorWorkerData, StatsSnapshot, WorkerMessage } from './sensor-worker.js';

// Main-thread handle on the sensor worker: start/stop, and decoded batches as
// events. 'events' -> CaEvent[] (final records from the ring buffer),
// 'snapshot' -> Snapshot (each walk of the socket-state map: the entries due
// for an interim or late final record, the owners of open sockets, and the
// loss counters), 'dns' -> DnsEvent[] (DNS queries and answers, when
// enabled), 'fatal' -> Error if the worker dies after start.
// Every 'events' batch must be release()d once its records are written: that
// is what bounds the records in flight between the kernel and the sink.

export interface Snapshot {
  /** Entries due now (decided in the worker by agent/interim.ts). */
  due: Due[];
  /** [pid, ppid] of every owner of an open tracked socket: read /proc while they are alive. */
  owners: Array<[number, number]>;
  /** Entries in the socket map at this walk. */
  entries: number;
  /** Entries in the UDP flow map at this walk. */
  udpFlows: number;
  atNs: bigint;
  stats: StatsSnapshot;
  /** The DNS programs' counters; null when DNS is off. */
  dnsStats: DnsStatsSnapshot | null;
  refreshed: boolean;
  refreshError?: string;
}

export interface MapSizes {
  /** Concurrent tracked connections (socks map). */
  sockets: number;
  /** Listening ports across all namespaces. */
  listeners: number;
  /** Sockets held by processes at start (for the start-up scan only). */
  seedOwners: number;
  /** Concurrent UDP flows (udp_flows map: one per socket and peer). */
  udpFlows: number;
}

export const DEFAULT_MAP_SIZES: MapSizes = { sockets: 131_072, listeners: 16_384, seedOwners: 65_536, udpFlows: 65_536 };
/** Where cgroup v2 is mounted on hosts with the hybrid layout; pure cgroup2 hosts use /sys/fs/cgroup. */
export const DEFAULT_CGROUP_PATH = '/sys/fs/cgroup/unified';
/**
 * A stop gives up draining after this long without reading a record: the sink
 * is stuck, not slow. On a loaded host the main thread was seen pausing for
 * over 250 ms between batches while still making progress.
 */
export const DEFAULT_DRAIN_STALL_MS = 1000;
/**
 * A stop drains at most this long. A full 8 MiB ring (~45,000 records) takes
 * ~2 s at an idle host's pace, ~15 s on a host loaded several times over;
 * 10 s stays inside systemd's and Kubernetes' default stop grace periods.
 */
export const DEFAULT_STOP_DRAIN_S = 10;
/** 8 MiB: ~45,000 records of headroom while the agent is busy. */
export const DEFAULT_RING_BYTES = 8 << 20;

export interface SensorOptions {
  objectPath: string;
  configBlob: Buffer;
  log: Logger;
  pollTimeoutMs?: number;
  walkIntervalMs?: number;
  mapSizes?: Partial<MapSizes>;
  ringBytes?: number;
  /** Records posted to the main thread and not yet released; at the bound the worker stops reading. */
  maxQueued?: number;
  /** Open connections get an interim record this often (seconds). */
  interimIntervalS?: number;
  /** A UDP flow with no datagram either way for this long is closed (seconds, default 60). */
  udpIdleTimeoutS?: number;
  /** The cgroup v2 directory the UDP programs attach to (default /sys/fs/cgroup/unified). */
  cgroupPath?: string;
  /** Enumerate sockets that exist before the agent (default true). */
  seed?: boolean;
  /** stop() gives up draining once no record could be read for this long (ms, default 1000: a stuck sink). */
  drainMs?: number;
  /** stop() drains the ring buffer for at most this long in total (seconds, default 10; 0: not at all). */
  stopDrainS?: number;
  /** Applied by the worker once the programs are attached (agent/privileges.ts). */
  privileges?: PrivilegeDrop;
  /** DNS programs at this cgroup v2 directory with a ring of this size (power of two); off when absent. */
  dns?: { cgroupPath: string; ringBytes: number } | null;
}

export class SensorStartError extends Error {
  constructor(message: string, readonly call?: string, readonly errno?: number) {
    super(message);
    this.name = 'SensorStartError';
  }
}

function decodeDnsBatch(buf: ArrayBuffer, count: number, log: Logger): DnsEvent[] {
  const out: DnsEvent[] = [];
  const bytes = Buffer.from(buf);
  for (let i = 0; i < count; i++) {
    try {
      out.push(decodeDnsEvent(bytes, i * DNS_EVENT_SIZE));
    } catch (e) {
      log.error({ err: (e as Error).message }, 'undecodable DNS event skipped');
    }
  }
  return out;
}

function decodeBatch(buf: ArrayBuffer, count: number, log: Logger): CaEvent[] {
  const out: CaEvent[] = [];
  const bytes = Buffer.from(buf);
  for (let i = 0; i < count; i++) {
    try {
      out.push(decodeEvent(bytes, i * EVENT_SIZE));
    } catch (e) {
      log.error({ err: (e as Error).message }, 'undecodable sensor event skipped');
    }
  }
  return out;
}

const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

export class Sensor extends EventEmitter {
  private worker: Worker | null = null;
  private readonly shared = new SharedArrayBuffer(8);
  private stopped: Promise<void> | null = null;
  cpus = 0;
  seed: SeedSummary | null = null;
  /** Records still in the kernel ring buffer when the last stop() gave up draining (lost, logged and counted). */
  unreadAtStop = 0;

  constructor(private readonly opts: SensorOptions) {
    super();
  }

  /**
   * Marks `n` records of earlier 'events' batches as written, letting the
   * worker read more. Deferred to the next turn of the event loop: released
   * from a microtask, the worker would refill the message port before the
   * loop ever reached its poll phase, and signals and timers (SIGINT, health
   * reports) would wait behind an endless stream of batches.
   */
  release(n: number): void {
    setImmediate(() => {
      const q = new Int32Array(this.shared);
      Atomics.sub(q, 1, n);
      Atomics.notify(q, 1);
    });
  }

  /** Resolves once every program is attached; rejects with the libbpf call that failed. */
  start(): Promise<void> {
    if (this.worker) return Promise.reject(new SensorStartError('sensor already started; stop() it first'));
    const ringBytes = this.opts.ringBytes ?? DEFAULT_RING_BYTES;
    if (!isPow2(ringBytes) || ringBytes < 4096) return Promise.reject(new SensorStartError(`ring buffer size ${ringBytes} must be a power of two of at least 4096 bytes`));
    // stop() leaves the flag set; a restarted worker would otherwise see it and quit at once.
    const q = new Int32Array(this.shared);
    Atomics.store(q, 0, 0);
    Atomics.store(q, 1, 0);
    const maxQueued = this.opts.maxQueued ?? 1024;
    const data: SensorWorkerData = {
      objectPath: this.opts.objectPath,
      configBlob: new Uint8Array(this.opts.configBlob),
      shared: this.shared,
      maxQueued,
      maxBatch: Math.min(128, maxQueued),
      pollTimeoutMs: this.opts.pollTimeoutMs ?? 50,
      walkIntervalMs: this.opts.walkIntervalMs ?? 1000,
      interimIntervalNs: BigInt(Math.round((this.opts.interimIntervalS ?? 60) * 1e9)),
      udpIdleNs: BigInt(Math.round((this.opts.udpIdleTimeoutS ?? 60) * 1e9)),
      cgroupPath: this.opts.cgroupPath ?? DEFAULT_CGROUP_PATH,
      drainMs: this.opts.drainMs ?? DEFAULT_DRAIN_STALL_MS,
      stopDrainMs: Math.round((this.opts.stopDrainS ?? DEFAULT_STOP_DRAIN_S) * 1000),
      mapSizes: { ...DEFAULT_MAP_SIZES, ...this.opts.mapSizes },
      ringBytes,
      seed: this.opts.seed ?? true,
      ...(this.opts.privileges ? { privileges: this.opts.privileges } : {}),
      dns: this.opts.dns ?? null,
    };
    const log = this.opts.log;
    const worker = new Worker(new URL('./sensor-worker.js', import.meta.url), { workerData: data });
    this.worker = worker;
    let started = false;
    let resolveStopped!: () => void;
    this.stopped = new Promise((r) => { resolveStopped = r; });
    return new Promise((resolve, reject) => {
      worker.on('message', (m: WorkerMessage) => {
        switch (m.type) {
          case 'log':
            // libbpf prints whole verifier logs at warn level on load failures.
            log[m.level === 'warn' ? 'warn' : 'debug']({ libbpf: true }, m.msg);
            break;
          case 'ready':
            started = true;
            this.cpus = m.cpus;
            this.seed = m.seed;
            log.info({ cpus: m.cpus, programs: m.programs, object: this.opts.objectPath, map_sizes: data.mapSizes, ring_bytes: ringBytes, load_attempts: m.loadAttempts }, 'sensor attached');
            if (m.seed) {
              const s = m.seed;
              const line = { namespaces: s.namespaces, processes: s.processes, listeners: s.listeners, listeners_without_owner: s.listenersNoOwner, connections: s.connections, connections_without_owner: s.connectionsNoOwner, not_tracked: s.notTracked, ms: s.ms };
              if (s.errors.length > 0) log.warn({ ...line, errors: s.errors }, 'start-up scan incomplete: some sockets that predate the agent are not tracked; their records will lack a process or be missing');
              else log.info(line, 'start-up scan: sockets that predate the agent are tracked');
            }
            resolve();
            break;
          case 'events':
            this.emit('events', decodeBatch(m.buf, m.count, log));
            break;
          case 'dns':
            this.emit('dns', decodeDnsBatch(m.buf, m.count, log));
            break;
          case 'snapshot': {
            const evs = decodeBatch(m.buf, m.count, log);
            const due = evs.length === m.count ? evs.map((ev, i) => ({ ev, kind: m.kinds[i]!, atNs: m.dueNs[i]! })) : [];
            this.emit('snapshot', { due, owners: m.owners, entries: m.entries, udpFlows: m.udpFlows, atNs: m.atNs, stats: m.stats, dnsStats: m.dnsStats, refreshed: m.refreshed, refreshError: m.refreshError } satisfies Snapshot);
            break;
          }
          case 'error': {
            const err = new SensorStartError(m.message, m.call, m.errno);
            if (!started) reject(err); else this.emit('fatal', err);
            break;
          }
          case 'draining':
            // Long work shows progress, and says how to cut it short.
            log.info({ records: m.records, stop_drain_s: m.budgetMs / 1000 }, 'draining the kernel ring buffer before stopping; signal again to stop now (what is left is counted as ring_unread_at_stop)');
            break;
          case 'stopped':
            this.unreadAtStop = m.unreadRecords + m.unreadDnsMessages;
            log.debug({ detach_ms: m.detachMs, snapshot_ms: m.snapshotMs, drain_ms: m.drainMs, drained_records: m.drainedRecords }, 'sensor worker stopping');
            if (m.unreadRecords + m.unreadDnsMessages > 0) {
              log.warn({ ring_unread_at_stop: m.unreadRecords + m.unreadDnsMessages, unread_records: m.unreadRecords, unread_dns_messages: m.unreadDnsMessages, drained_records: m.drainedRecords, drain_ms: m.drainMs, stop_drain_s: data.stopDrainMs / 1000 },
                'stopped before the ring buffers were drained: these records are lost (counted as ring_unread_at_stop in agent health). Raise sensor.stop_drain_s, or check the output is not blocked');
            }
            break;
        }
      });
      worker.on('error', (e) => { if (!started) reject(e); else this.emit('fatal', e); });
      worker.on('exit', () => { resolveStopped(); if (!started) reject(new SensorStartError('sensor worker exited before attaching')); });
    });
  }

  /** Ends a running stop()'s drain at once: what is still in the ring is counted, not read. */
  hurry(): void {
    if (!this.worker) return;
    const q = new Int32Array(this.shared);
    Atomics.store(q, 0, 2);
    Atomics.notify(q, 1);
  }

  /** Detaches the programs, drains the ring buffer (delivered as last 'events'), and ends the worker. */
  async stop(): Promise<void> {
    if (!this.worker) return;
    const t0 = Date.now();
    const q = new Int32Array(this.shared);
    // Never downgrades an earlier hurry() (2) to a full drain.
    Atomics.compareExchange(q, 0, 0, 1);
    Atomics.notify(q, 1);
    await this.stopped;
    this.worker = null;
    this.opts.log.info({ ms: Date.now() - t0 }, 'sensor stopped');
  }
}
