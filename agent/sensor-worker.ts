import { parentPort, workerData } from 'node:worker_threads';
import { bootNs } from './clock.js';
import { EVENT_SIZE, STAT } from './event-decoder.js';
import { dropPrivileges, type PrivilegeDrop } from './privileges.js';
import { ALL_PROGRAMS, BpfObject, lookupPerCpuU64, numPossibleCpus, RingBuffer, setLibbpfPrint, walkMap } from './libbpf.js';

// The only thread that touches libbpf. ring_buffer__poll blocks, so it runs
// here in a loop; each poll's events are copied into one buffer and posted as
// a batch, and the main thread's event loop never waits on the kernel.
// Stop: the main thread sets stop[0] = 1 (a message could not be delivered to
// this busy loop); the loop notices within one poll timeout.

export interface SensorWorkerData {
  objectPath: string;
  configBlob: Uint8Array;
  stop: SharedArrayBuffer;
  pollTimeoutMs: number;
  walkIntervalMs: number;
  /** Drop to these privileges once attached: this thread keeps CAP_BPF + CAP_PERFMON for the maps. */
  privileges?: PrivilegeDrop;
}

export type WorkerMessage =
  | { type: 'log'; level: 'warn' | 'info' | 'debug'; msg: string }
  | { type: 'ready'; cpus: number; programs: string[] }
  | { type: 'events'; buf: ArrayBuffer; count: number }
  | { type: 'snapshot'; buf: ArrayBuffer; count: number; atNs: bigint; stats: Record<keyof typeof STAT, bigint[]>; refreshed: boolean; refreshError?: string }
  | { type: 'error'; message: string; call?: string; errno?: number }
  | { type: 'stopped' };

const data = workerData as SensorWorkerData;
const port = parentPort!;
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
const stop = new Int32Array(data.stop);

function pack(chunks: Uint8Array[]): ArrayBuffer {
  const out = new Uint8Array(chunks.length * EVENT_SIZE);
  chunks.forEach((c, i) => out.set(c.subarray(0, EVENT_SIZE), i * EVENT_SIZE));
  return out.buffer;
}

function main(): void {
  setLibbpfPrint((level, msg) => post({ type: 'log', level, msg }));
  const obj = BpfObject.open(data.objectPath);
  let rb: RingBuffer | null = null;
  try {
    obj.setRodata(Buffer.from(data.configBlob));
    obj.load([...ALL_PROGRAMS]);
    const attached = ALL_PROGRAMS.filter((p) => p !== 'refresh_bytes');
    for (const p of attached) obj.attach(p);
    const cpus = numPossibleCpus();
    const socksFd = obj.mapFd('socks');
    const statsFd = obj.mapFd('stats');
    let pending: Uint8Array[] = [];
    // The view is only valid inside the callback: copy.
    rb = new RingBuffer(obj.mapFd('events'), (view) => { pending.push(view.slice(0, EVENT_SIZE)); });
    if (data.privileges) dropPrivileges(data.privileges);
    post({ type: 'ready', cpus, programs: attached });

    const flush = (): void => {
      if (pending.length === 0) return;
      const buf = pack(pending);
      post({ type: 'events', buf, count: pending.length }, [buf]);
      pending = [];
    };
    const snapshot = (): void => {
      let refreshed = false;
      let refreshError: string | undefined;
      try { obj.testRun('refresh_bytes'); refreshed = true; } catch (e) { refreshError = (e as Error).message; }
      const atNs = bootNs();
      const values: Uint8Array[] = [];
      for (const [, v] of walkMap(socksFd, 8, EVENT_SIZE)) values.push(v);
      const stats = Object.fromEntries(Object.entries(STAT).map(([k, idx]) => [k, lookupPerCpuU64(statsFd, idx, cpus)])) as Record<keyof typeof STAT, bigint[]>;
      const buf = pack(values);
      post({ type: 'snapshot', buf, count: values.length, atNs, stats, refreshed, ...(refreshError ? { refreshError } : {}) }, [buf]);
    };

    let lastWalk = 0;
    while (Atomics.load(stop, 0) === 0) {
      rb.poll(data.pollTimeoutMs);
      flush();
      if (Date.now() - lastWalk >= data.walkIntervalMs) {
        snapshot();
        lastWalk = Date.now();
      }
    }
    // Detach first so no new events arrive, then drain what is already queued.
    obj.detach();
    rb.poll(0);
    flush();
    snapshot();
  } finally {
    rb?.free();
    obj.close();
  }
}

try {
  main();
  post({ type: 'stopped' });
} catch (e) {
  const err = e as Error & { call?: string; errno?: number };
  post({ type: 'error', message: err.message, ...(err.call ? { call: err.call, errno: err.errno } : {}) });
}
