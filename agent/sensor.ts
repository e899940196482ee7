import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../lib/log.js';
import { decodeEvent, EVENT_SIZE, type RawEvent, type STAT } from './event-decoder.js';
import type { PrivilegeDrop } from './privileges.js';
import type { SensorWorkerData, WorkerMessage } from './sensor-worker.js';

// Main-thread handle on the sensor worker: start/stop, and decoded batches as
// events. 'events' -> RawEvent[] (final records from the ring buffer),
// 'snapshot' -> Snapshot (the socket-state map, for interim records and loss
// counters), 'fatal' -> Error if the worker dies after start.

export interface Snapshot {
  entries: RawEvent[];
  atNs: bigint;
  stats: Record<keyof typeof STAT, bigint[]>;
  refreshed: boolean;
  refreshError?: string;
}

export interface SensorOptions {
  objectPath: string;
  configBlob: Buffer;
  log: Logger;
  pollTimeoutMs?: number;
  walkIntervalMs?: number;
  /** Applied by the worker once the programs are attached (agent/privileges.ts). */
  privileges?: PrivilegeDrop;
}

export class SensorStartError extends Error {
  constructor(message: string, readonly call?: string, readonly errno?: number) {
    super(message);
    this.name = 'SensorStartError';
  }
}

function decodeBatch(buf: ArrayBuffer, count: number, log: Logger): RawEvent[] {
  const out: RawEvent[] = [];
  const bytes = new Uint8Array(buf);
  for (let i = 0; i < count; i++) {
    try {
      out.push(decodeEvent(bytes.subarray(i * EVENT_SIZE, (i + 1) * EVENT_SIZE)));
    } catch (e) {
      log.error({ err: (e as Error).message }, 'undecodable sensor event skipped');
    }
  }
  return out;
}

export class Sensor extends EventEmitter {
  private worker: Worker | null = null;
  private readonly stopFlag = new SharedArrayBuffer(4);
  private stopped: Promise<void> | null = null;
  cpus = 0;

  constructor(private readonly opts: SensorOptions) {
    super();
  }

  /** Resolves once every program is attached; rejects with the libbpf call that failed. */
  start(): Promise<void> {
    if (this.worker) return Promise.reject(new SensorStartError('sensor already started; stop() it first'));
    // stop() leaves the flag set; a restarted worker would otherwise see it and quit at once.
    Atomics.store(new Int32Array(this.stopFlag), 0, 0);
    const data: SensorWorkerData = {
      objectPath: this.opts.objectPath,
      configBlob: new Uint8Array(this.opts.configBlob),
      stop: this.stopFlag,
      pollTimeoutMs: this.opts.pollTimeoutMs ?? 100,
      walkIntervalMs: this.opts.walkIntervalMs ?? 1000,
      ...(this.opts.privileges ? { privileges: this.opts.privileges } : {}),
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
            log.info({ cpus: m.cpus, programs: m.programs, object: this.opts.objectPath }, 'sensor attached');
            resolve();
            break;
          case 'events':
            this.emit('events', decodeBatch(m.buf, m.count, log));
            break;
          case 'snapshot':
            this.emit('snapshot', { entries: decodeBatch(m.buf, m.count, log), atNs: m.atNs, stats: m.stats, refreshed: m.refreshed, refreshError: m.refreshError } satisfies Snapshot);
            break;
          case 'error': {
            const err = new SensorStartError(m.message, m.call, m.errno);
            if (!started) reject(err); else this.emit('fatal', err);
            break;
          }
          case 'stopped':
            break;
        }
      });
      worker.on('error', (e) => { if (!started) reject(e); else this.emit('fatal', e); });
      worker.on('exit', () => { resolveStopped(); if (!started) reject(new SensorStartError('sensor worker exited before attaching')); });
    });
  }

  /** Detaches the programs, drains the ring buffer (delivered as a last 'events'), and ends the worker. */
  async stop(): Promise<void> {
    if (!this.worker) return;
    Atomics.store(new Int32Array(this.stopFlag), 0, 1);
    await this.stopped;
    this.worker = null;
  }
}
