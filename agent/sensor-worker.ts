import { closeSync, openSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { bootNs } from './clock.js';
import { EVENT_LAYOUT as EL, EVENT_SIZE, F_NO_OWNER, F_UDP, SEED_MARK, STAT, UDP_KEY_SIZE, udpKeyAt } from './event-decoder.js';
import { InterimScheduler, type EntryFacts } from './interim.js';
import { DNS_EVENT_SIZE, DNS_STAT } from './dns-decoder.js';
import { ALL_PROGRAMS, BpfObject, DNS_CGROUP_HOOKS, dumpMapValues, HOOKS, lookupPerCpuU64, UDP_CGROUP_HOOKS, mapDelete, mapUpdate, MappedRing, numPossibleCpus, setLibbpfPrint, setNetns } from './libbpf.js';
import { encodeOwner, scanSocketOwners } from './preexisting.js';
import { dropPrivileges, type PrivilegeDrop } from './privileges.js';

// The only thread that touches libbpf. It reads the ring buffer's mmapped
// pages directly and posts records in batches (one postMessage per batch, the
// bytes transferred, not copied). The main thread's event loop never waits on
// the kernel.
//
// Bounded: shared[1] counts records posted and not yet released by the main
// thread (written to the sink). At `maxQueued` the worker stops reading; the
// kernel ring buffer then absorbs the burst and, once full, the kernel counts
// what it cannot queue (ringbuf_drops). Memory stays flat under any storm.
// Stop: the main thread sets shared[0] = 1; the loop notices within one poll
// timeout, detaches, and drains what is queued: for as long as records keep
// coming out (up to `stopDrainMs`), giving up once none could be read for
// `drainMs` (the main thread is stuck behind a blocked sink). What is left is
// counted in records and reported in 'stopped' (lost, and counted as such).
// shared[0] = 2 (a second stop signal) ends the drain at once.

export interface SensorWorkerData {
  objectPath: string;
  configBlob: Uint8Array;
  /** Int32 [stop, queued]. */
  shared: SharedArrayBuffer;
  maxQueued: number;
  maxBatch: number;
  pollTimeoutMs: number;
  walkIntervalMs: number;
  /** At stop: give up draining once no record could be read for this long. */
  drainMs: number;
  /** At stop: never drain for longer than this in total. */
  stopDrainMs: number;
  mapSizes: { sockets: number; listeners: number; seedOwners: number; udpFlows: number };
  /** cgroup v2 directory the UDP programs attach to (its whole subtree is watched). */
  cgroupPath: string;
  /** A UDP flow with no datagram for this long gets its final record (close_reason idle). */
  udpIdleNs: bigint;
  ringBytes: number;
  seed: boolean;
  interimIntervalNs: bigint;
  /** DNS programs at this cgroup v2 directory, their events on a ring of this size; null: DNS off. */
  dns: { cgroupPath: string; ringBytes: number } | null;
  /** Drop to these privileges once attached and seeded: this thread keeps CAP_BPF + CAP_PERFMON for the maps. */
  privileges?: PrivilegeDrop;
}

export type StatsSnapshot = Record<keyof typeof STAT, bigint[]>;
/** The DNS programs' counters (bpf/dns.h enum ca_dns_stat), summed over CPUs. */
export type DnsStatsSnapshot = Record<keyof typeof DNS_STAT, number>;

export interface SeedSummary {
  namespaces: number;
  processes: number;
  listeners: number;
  listenersNoOwner: number;
  connections: number;
  connectionsNoOwner: number;
  notTracked: number;
  errors: string[];
  ms: number;
}

export type WorkerMessage =
  | { type: 'log'; level: 'warn' | 'info' | 'debug'; msg: string }
  | { type: 'ready'; cpus: number; programs: string[]; seed: SeedSummary | null; loadAttempts: number }
  | { type: 'events'; buf: ArrayBuffer; count: number }
  | { type: 'dns'; buf: ArrayBuffer; count: number }
  | { type: 'snapshot'; buf: ArrayBuffer; count: number; kinds: Array<'final' | 'interim'>; dueNs: bigint[]; owners: Array<[number, number]>; entries: number; udpFlows: number; atNs: bigint; stats: StatsSnapshot; dnsStats: DnsStatsSnapshot | null; refreshed: boolean; refreshError?: string }
  | { type: 'error'; message: string; call?: string; errno?: number }
  | { type: 'draining'; records: number; budgetMs: number }
  | { type: 'stopped'; unreadBytes: number; unreadRecords: number; unreadDnsMessages: number; drainedRecords: number; drainMs: number; detachMs: number; snapshotMs: number };

const data = workerData as SensorWorkerData;
const port = parentPort!;
const post = (m: WorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);
const shared = new Int32Array(data.shared);
const STOP = 0;
const QUEUED = 1;
const EAGAIN = 11;

interface Peeked extends EntryFacts { buf: Buffer; index: number; pid: number; ppid: number }

/** Only what the schedule and the /proc warm-up need, read straight from the map bytes. */
function peek(b: Buffer, index: number): Peeked {
  const o = index * EVENT_SIZE;
  return {
    buf: b,
    index,
    sock_id: b.readBigUInt64LE(o + EL.sock_id.offset),
    start_ns: b.readBigUInt64LE(o + EL.start_ns.offset),
    end_ns: b.readBigUInt64LE(o + EL.end_ns.offset),
    flags: b.readUInt32LE(o + EL.flags.offset),
    states: b.readUInt32LE(o + EL.states.offset),
    dport: b.readUInt16LE(o + EL.dport.offset),
    last_ns: b.readBigUInt64LE(o + EL.last_ns.offset),
    pid: b.readUInt32LE(o + EL.pid.offset),
    ppid: b.readUInt32LE(o + EL.ppid.offset),
  };
}

/**
 * Opens and loads the object. A profiler (node --cpu-prof) or a busy host can
 * make the verifier's load fail with EAGAIN; libbpf leaves a failed object
 * unusable, so each attempt starts from a fresh open.
 */
function openAndLoad(): { obj: BpfObject; attempts: number } {
  for (let attempt = 1; ; attempt++) {
    const obj = BpfObject.open(data.objectPath);
    try {
      obj.setRodata(Buffer.from(data.configBlob));
      obj.setMaxEntries('socks', data.mapSizes.sockets);
      obj.setMaxEntries('listeners', data.mapSizes.listeners);
      obj.setMaxEntries('seed_owners', data.mapSizes.seedOwners);
      obj.setMaxEntries('udp_flows', data.mapSizes.udpFlows);
      obj.setMaxEntries('events', data.ringBytes);
      if (data.dns) obj.setMaxEntries('dns_events', data.dns.ringBytes);
      const dnsOff = new Set<string>(data.dns ? [] : DNS_CGROUP_HOOKS);
      obj.load(ALL_PROGRAMS.filter((p) => !dnsOff.has(p)));
      return { obj, attempts: attempt };
    } catch (e) {
      obj.close();
      const errno = (e as { errno?: number }).errno;
      if (errno !== EAGAIN || attempt >= 10) throw e;
      post({ type: 'log', level: 'warn', msg: `program load returned EAGAIN (attempt ${attempt} of 10), retrying` });
      Atomics.wait(shared, STOP, 0, 20 * attempt);
    }
  }
}

/** The start-up scan: owners from /proc, then seed_tcp once per network namespace. */
function seed(obj: BpfObject): SeedSummary {
  const t0 = Date.now();
  const scan = scanSocketOwners();
  const ownersFd = obj.mapFd('seed_owners');
  const keys: Buffer[] = [];
  const errors: string[] = [];
  for (const [ino, owner] of scan.owners) {
    if (keys.length >= data.mapSizes.seedOwners) { errors.push(`more than ${data.mapSizes.seedOwners} sockets held by processes: raise map_sizes.seed_owners`); break; }
    const key = Buffer.alloc(8);
    key.writeBigUInt64LE(ino);
    if (mapUpdate(ownersFd, key, encodeOwner(owner)) === 0) keys.push(key);
  }
  const s: SeedSummary = { namespaces: 0, processes: scan.processes, listeners: 0, listenersNoOwner: 0, connections: 0, connectionsNoOwner: 0, notTracked: 0, errors, ms: 0 };
  const home = openSync('/proc/thread-self/ns/net', 'r');
  try {
    for (const [ino, path] of scan.namespaces) {
      let fd = -1;
      try {
        fd = openSync(path, 'r');
        setNetns(fd);
        const out = obj.runIter('seed_tcp');
        s.namespaces++;
        for (const m of out) {
          if (m === SEED_MARK.CA_SEED_LISTENER) s.listeners++;
          else if (m === SEED_MARK.CA_SEED_LISTENER_NO_OWNER) s.listenersNoOwner++;
          else if (m === SEED_MARK.CA_SEED_CONN) s.connections++;
          else if (m === SEED_MARK.CA_SEED_CONN_NO_OWNER) s.connectionsNoOwner++;
          else if (m === SEED_MARK.CA_SEED_NOT_TRACKED) s.notTracked++;
        }
      } catch (e) {
        errors.push(`netns ${ino} (${path}): ${(e as Error).message}`);
      } finally {
        if (fd >= 0) closeSync(fd);
      }
    }
  } finally {
    setNetns(home);
    closeSync(home);
  }
  for (const key of keys) mapDelete(ownersFd, key);
  s.ms = Date.now() - t0;
  return s;
}

function main(): void {
  setLibbpfPrint((level, msg) => post({ type: 'log', level, msg }));
  const { obj, attempts } = openAndLoad();
  let ring: MappedRing | null = null;
  let dnsRing: MappedRing | null = null;
  try {
    // Hooks first, scan second: a socket that opens or closes during the
    // scan is seen by a hook, and the scan never overwrites a hook's entry.
    for (const p of HOOKS) obj.attach(p);
    for (const p of UDP_CGROUP_HOOKS) obj.attachCgroup(p, data.cgroupPath);
    const dnsAt = data.dns;
    if (dnsAt) for (const p of DNS_CGROUP_HOOKS) obj.attachCgroup(p, dnsAt.cgroupPath);
    const cpus = numPossibleCpus();
    const socksFd = obj.mapFd('socks');
    const udpFd = obj.mapFd('udp_flows');
    const statsFd = obj.mapFd('stats');
    ring = new MappedRing(obj.mapFd('events'), data.ringBytes);
    dnsRing = dnsAt ? new MappedRing(obj.mapFd('dns_events'), dnsAt.ringBytes) : null;
    const dnsStatsFd = dnsAt ? obj.mapFd('dns_stats') : -1;
    let seedSummary: SeedSummary | null = null;
    if (data.seed) {
      try { seedSummary = seed(obj); } catch (e) { seedSummary = { namespaces: 0, processes: 0, listeners: 0, listenersNoOwner: 0, connections: 0, connectionsNoOwner: 0, notTracked: 0, errors: [(e as Error).message], ms: 0 }; }
    }
    // The start-up scan reads every process's /proc/PID/fd, so privileges go only after it.
    if (data.privileges) dropPrivileges(data.privileges);
    post({ type: 'ready', cpus, programs: [...HOOKS, ...UDP_CGROUP_HOOKS, ...(dnsAt ? DNS_CGROUP_HOOKS : [])], seed: seedSummary, loadAttempts: attempts });

    const readBatch = (): number => {
      const room = Math.min(data.maxBatch, data.maxQueued - Atomics.load(shared, QUEUED));
      if (room <= 0) return 0;
      const out = Buffer.allocUnsafe(room * EVENT_SIZE);
      const n = ring!.read(out, EVENT_SIZE, room);
      if (n === 0) return 0;
      Atomics.add(shared, QUEUED, n);
      const buf = out.buffer.slice(out.byteOffset, out.byteOffset + n * EVENT_SIZE) as ArrayBuffer;
      post({ type: 'events', buf, count: n }, [buf]);
      return n;
    };
    // DNS messages are few and small; they bypass the record bound above
    // (at most DNS_BATCH per turn) and are read before the connection ring,
    // so an answer reaches the name cache before the records of the
    // connections its client made after it.
    const DNS_BATCH = 256;
    const readDns = (): number => {
      if (!dnsRing) return 0;
      const out = Buffer.allocUnsafe(DNS_BATCH * DNS_EVENT_SIZE);
      const n = dnsRing.read(out, DNS_EVENT_SIZE, DNS_BATCH);
      if (n === 0) return 0;
      const buf = out.buffer.slice(out.byteOffset, out.byteOffset + n * DNS_EVENT_SIZE) as ArrayBuffer;
      post({ type: 'dns', buf, count: n }, [buf]);
      return n;
    };
    const scheduler = new InterimScheduler(data.interimIntervalNs, undefined, data.udpIdleNs);
    const snapshot = (final = false): void => {
      let refreshed = false;
      let refreshError: string | undefined;
      try { obj.testRun('refresh_bytes'); refreshed = true; } catch (e) { refreshError = (e as Error).message; }
      const atNs = bootNs();
      const { values, count } = dumpMapValues(socksFd, 8, EVENT_SIZE);
      const udp = dumpMapValues(udpFd, UDP_KEY_SIZE, EVENT_SIZE);
      const stats = Object.fromEntries(Object.entries(STAT).map(([k, idx]) => [k, lookupPerCpuU64(statsFd, idx, cpus)])) as StatsSnapshot;
      const dnsStats = dnsStatsFd < 0 ? null : Object.fromEntries(Object.entries(DNS_STAT).map(([k, idx]) => [k, Number(lookupPerCpuU64(dnsStatsFd, idx, cpus).reduce((a, b) => a + b, 0n))])) as DnsStatsSnapshot;
      const entries = [
        ...Array.from({ length: count }, (_, i) => peek(values, i)),
        ...Array.from({ length: udp.count }, (_, i) => peek(udp.values, i)),
      ];
      // At stop no TCP interim records for a run that is ending (their
      // sockets' final records come from the next agent's start-up scan
      // onwards). A UDP flow still open, though, has no later record at all
      // (the next agent cannot see it), so it gets one interim (open) now.
      // An idle UDP flow is sent only if this walk's delete took it: a socket
      // release racing the walk deletes it too and sends its own final.
      const due = (final ? entries.filter((e) => (e.flags & F_UDP) !== 0).map((ev) => ({ ev, kind: 'interim' as const, atNs })) : scheduler.due({ entries, atNs }))
        .filter((d) => d.kind !== 'final' || (d.ev.flags & F_UDP) === 0 || mapDelete(udpFd, udpKeyAt(d.ev.buf, d.ev.index * EVENT_SIZE)) === 0);
      const owners = new Map<number, number>();
      for (const e of entries) if (e.pid > 0 && (e.flags & F_NO_OWNER) === 0) owners.set(e.pid, e.ppid);
      const out = Buffer.allocUnsafe(due.length * EVENT_SIZE);
      due.forEach((d, i) => d.ev.buf.copy(out, i * EVENT_SIZE, d.ev.index * EVENT_SIZE, (d.ev.index + 1) * EVENT_SIZE));
      const buf = out.buffer.slice(out.byteOffset, out.byteOffset + out.length) as ArrayBuffer;
      post({
        type: 'snapshot', buf, count: due.length, kinds: due.map((d) => d.kind), dueNs: due.map((d) => d.atNs), owners: [...owners],
        entries: count, udpFlows: udp.count, atNs, stats, dnsStats, refreshed, ...(refreshError ? { refreshError } : {}),
      }, [buf]);
    };

    let lastWalk = 0;
    while (Atomics.load(shared, STOP) === 0) {
      const queued = Atomics.load(shared, QUEUED);
      if (queued >= data.maxQueued) {
        // The main thread is behind: leave records in the kernel ring until it catches up.
        Atomics.wait(shared, QUEUED, queued, data.pollTimeoutMs);
      } else if (ring.pending() === 0 && (dnsRing?.pending() ?? 0) === 0) {
        // DNS answers wake us at once: the ring is small next to the record ring and a burst must not fill it.
        if (dnsRing) MappedRing.waitAny([ring, dnsRing], data.pollTimeoutMs);
        else ring.wait(data.pollTimeoutMs);
      }
      while (readDns() === DNS_BATCH) { /* a burst of DNS: take it all before the records that may follow it */ }
      while (readBatch() === data.maxBatch) { /* keep going while full batches come */ }
      if (Date.now() - lastWalk >= data.walkIntervalMs) {
        snapshot();
        lastWalk = Date.now();
      }
    }
    // Detach first so no new events arrive, then drain what is queued. A
    // backlog after a storm can be tens of thousands of records, more than a
    // fixed 100 ms drains: keep going while records come out, bounded in total.
    const tDetach = Date.now();
    obj.detach();
    const detachMs = Date.now() - tDetach;
    const tDrain = Date.now();
    const deadline = tDrain + data.stopDrainMs;
    let lastRead = tDrain;
    let drained = 0;
    const main = ring;
    const pending = () => main.pending() > 0 || (dnsRing?.pending() ?? 0) > 0;
    if (pending() && data.stopDrainMs > 0 && Atomics.load(shared, STOP) === 1) post({ type: 'draining', records: ring.unread(EVENT_SIZE) + (dnsRing?.unread(DNS_EVENT_SIZE) ?? 0), budgetMs: data.stopDrainMs });
    while (pending() && Atomics.load(shared, STOP) === 1 && Date.now() < deadline && Date.now() - lastRead < data.drainMs) {
      const n = readDns() + readBatch();
      if (n > 0) { drained += n; lastRead = Date.now(); } else Atomics.wait(shared, QUEUED, Atomics.load(shared, QUEUED), 10);
    }
    const drainMs = Date.now() - tDrain;
    // Counted before the final walk so the number is what this stop gave up on.
    const unreadRecords = ring.unread(EVENT_SIZE);
    const unreadDnsMessages = dnsRing?.unread(DNS_EVENT_SIZE) ?? 0;
    const tSnap = Date.now();
    snapshot(true);
    post({ type: 'stopped', unreadBytes: ring.pending(), unreadRecords, unreadDnsMessages, drainedRecords: drained, drainMs, detachMs, snapshotMs: Date.now() - tSnap });
  } finally {
    ring?.free();
    dnsRing?.free();
    obj.close();
  }
}

try {
  main();
} catch (e) {
  const err = e as Error & { call?: string; errno?: number };
  post({ type: 'error', message: err.message, ...(err.call ? { call: err.call, errno: err.errno } : {}) });
}
