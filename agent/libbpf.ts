import { closeSync, openSync, readSync } from 'node:fs';
import koffi from 'koffi';

// Thin koffi bindings to the system libbpf (libbpf.so.1). Only the calls the
// sensor needs; each wrapper turns libbpf's error conventions (NULL + errno
// for pointers, -errno for ints) into a LibbpfError that names the call.
// Every function here blocks: use it from agent/sensor-worker.ts, never from
// the main thread's event loop.

type Ptr = bigint | null;

export class LibbpfError extends Error {
  constructor(readonly call: string, readonly errno: number, detail = '') {
    super(`${call} failed: ${errnoName(errno)} (errno ${errno})${detail ? `: ${detail}` : ''}`);
    this.name = 'LibbpfError';
  }
}

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 7: 'E2BIG', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 22: 'EINVAL', 95: 'EOPNOTSUPP', 524: 'ENOTSUPP' };
export const errnoName = (e: number): string => ERRNO_NAMES[Math.abs(e)] ?? `errno ${Math.abs(e)}`;

let lib: ReturnType<typeof bind> | null = null;

function bind() {
  const so = koffi.load('libbpf.so.1');
  const libc = koffi.load('libc.so.6');
  const PrintFn = koffi.proto('int connaudit_libbpf_print(int level, const char *fmt, void *args)');
  const TestRunOpts = koffi.struct('connaudit_bpf_test_run_opts', {
    sz: 'size_t',
    data_in: 'void *', data_out: 'void *', data_size_in: 'uint32_t', data_size_out: 'uint32_t',
    ctx_in: 'void *', ctx_out: 'void *', ctx_size_in: 'uint32_t', ctx_size_out: 'uint32_t',
    retval: 'uint32_t', repeat: 'int', duration: 'uint32_t', flags: 'uint32_t', cpu: 'uint32_t', batch_size: 'uint32_t',
  });
  return {
    PrintFn, TestRunOpts,
    set_print: so.func('void *libbpf_set_print(connaudit_libbpf_print *fn)'),
    // x86-64 va_list decays to a pointer, so libbpf's (fmt, va_list) can be formatted by vsnprintf.
    vsnprintf: libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *args)'),
    open_file: so.func('void *bpf_object__open_file(const char *path, void *opts)'),
    obj_load: so.func('int bpf_object__load(void *obj)'),
    obj_close: so.func('void bpf_object__close(void *obj)'),
    next_map: so.func('void *bpf_object__next_map(void *obj, void *prev)'),
    map_name: so.func('const char *bpf_map__name(void *map)'),
    map_set_initial_value: so.func('int bpf_map__set_initial_value(void *map, const uint8_t *data, size_t size)'),
    map_value_size: so.func('uint32_t bpf_map__value_size(void *map)'),
    find_map_fd: so.func('int bpf_object__find_map_fd_by_name(void *obj, const char *name)'),
    find_prog: so.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    prog_fd: so.func('int bpf_program__fd(void *prog)'),
    prog_set_autoload: so.func('int bpf_program__set_autoload(void *prog, bool autoload)'),
    prog_attach: so.func('void *bpf_program__attach(void *prog)'),
    prog_attach_cgroup: so.func('void *bpf_program__attach_cgroup(void *prog, int cgroup_fd)'),
    link_destroy: so.func('int bpf_link__destroy(void *link)'),
    map_get_next_key: so.func('int bpf_map_get_next_key(int fd, const uint8_t *key, _Out_ uint8_t *next_key)'),
    map_lookup: so.func('int bpf_map_lookup_elem(int fd, const uint8_t *key, _Out_ uint8_t *value)'),
    prog_test_run: so.func('int bpf_prog_test_run_opts(int fd, _Inout_ connaudit_bpf_test_run_opts *opts)'),
    num_cpus: so.func('int libbpf_num_possible_cpus()'),
    find_map: so.func('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    map_set_max_entries: so.func('int bpf_map__set_max_entries(void *map, uint32_t max_entries)'),
    map_update: so.func('int bpf_map_update_elem(int fd, const uint8_t *key, const uint8_t *value, uint64_t flags)'),
    map_delete: so.func('int bpf_map_delete_elem(int fd, const uint8_t *key)'),
    map_lookup_batch: so.func('int bpf_map_lookup_batch(int fd, _Inout_ uint8_t *in_batch, _Out_ uint8_t *out_batch, _Out_ uint8_t *keys, _Out_ uint8_t *values, _Inout_ uint32_t *count, void *opts)'),
    attach_iter: so.func('void *bpf_program__attach_iter(void *prog, void *opts)'),
    link_fd: so.func('int bpf_link__fd(void *link)'),
    iter_create: so.func('int bpf_iter_create(int link_fd)'),
    setns: libc.func('int setns(int fd, int nstype)'),
    close: libc.func('int close(int fd)'),
    sigmask: libc.func('int pthread_sigmask(int how, const uint8_t *set, _Out_ uint8_t *oldset)'),
    mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, intptr_t offset)'),
    munmap: libc.func('int munmap(void *addr, size_t length)'),
    poll: libc.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)'),
    page_size: libc.func('long sysconf(int name)'),
  };
}

function L() {
  lib ??= bind();
  return lib;
}

const LEVELS = ['warn', 'info', 'debug'] as const;
export type LibbpfLevel = (typeof LEVELS)[number];

/**
 * Routes libbpf's own messages (verifier log, CO-RE relocation failures) to
 * `sink`. Without this they go to stderr unstructured. The callback must stay
 * registered while libbpf may print, so it is kept for the thread's lifetime.
 */
export function setLibbpfPrint(sink: (level: LibbpfLevel, msg: string) => void): void {
  const l = L();
  // A verifier log arrives as one message and runs to many KiB; a short buffer cut off its end, where the error is.
  const buf = Buffer.alloc(1 << 20);
  const cb = koffi.register((level: number, fmt: string, args: bigint) => {
    const n = l.vsnprintf(buf, buf.length, fmt, args) as number;
    const text = buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))).toString('utf8').trimEnd();
    if (text) sink(LEVELS[level] ?? 'debug', text);
    return 0;
  }, koffi.pointer(l.PrintFn));
  l.set_print(cb);
}

export function numPossibleCpus(): number {
  const n = L().num_cpus() as number;
  if (n <= 0) throw new LibbpfError('libbpf_num_possible_cpus', -n);
  return n;
}

export class BpfObject {
  private links: bigint[] = [];
  private closed = false;

  private constructor(readonly path: string, private obj: bigint) {}

  static open(path: string): BpfObject {
    const obj = L().open_file(path, null) as Ptr;
    if (!obj) throw new LibbpfError('bpf_object__open_file', koffi.errno(), path);
    return new BpfObject(path, obj);
  }

  /** Overwrites the initial contents of the object's .rodata (its const volatile globals). */
  setRodata(data: Buffer): void {
    const l = L();
    for (let m = l.next_map(this.obj, null) as Ptr; m; m = l.next_map(this.obj, m) as Ptr) {
      const name = l.map_name(m) as string;
      if (!name.endsWith('.rodata')) continue;
      const size = l.map_value_size(m) as number;
      if (size !== data.length) {
        throw new LibbpfError('bpf_map__set_initial_value', 22, `${this.path}: .rodata is ${size} bytes, the agent's config blob is ${data.length}; rebuild bpf/ and agent together`);
      }
      const rc = l.map_set_initial_value(m, data, data.length) as number;
      if (rc < 0) throw new LibbpfError('bpf_map__set_initial_value', -rc, name);
      return;
    }
    throw new LibbpfError('bpf_object__next_map', 2, `${this.path} has no .rodata map`);
  }

  /** Must run before load(): map sizes are fixed at creation. */
  setMaxEntries(map: string, n: number): void {
    const m = L().find_map(this.obj, map) as Ptr;
    if (!m) throw new LibbpfError('bpf_object__find_map_by_name', 2, `${map} in ${this.path}`);
    const rc = L().map_set_max_entries(m, n) as number;
    if (rc < 0) throw new LibbpfError('bpf_map__set_max_entries', -rc, `${map} = ${n}`);
  }

  /**
   * The verifier gives up with EAGAIN when a signal is pending for the
   * loading thread. A sampling profiler (node --cpu-prof) sends SIGPROF to
   * every JS thread many times a second, so the load is done with SIGPROF
   * blocked for this thread; it is delivered once the load returns.
   */
  private withProfilerSignalBlocked<T>(fn: () => T): T {
    const l = L();
    const set = Buffer.alloc(128);
    const old = Buffer.alloc(128);
    const SIGPROF = 27;
    set[(SIGPROF - 1) >> 3]! |= 1 << ((SIGPROF - 1) & 7);
    const blocked = (l.sigmask(0 /* SIG_BLOCK */, set, old) as number) === 0;
    try {
      return fn();
    } finally {
      if (blocked) l.sigmask(2 /* SIG_SETMASK */, old, Buffer.alloc(128));
    }
  }

  /** Programs not listed are not loaded at all (cheaper, and a missing hook cannot fail the load). */
  load(programs?: string[]): void {
    const l = L();
    if (programs) {
      for (const name of ALL_PROGRAMS) {
        const p = l.find_prog(this.obj, name) as Ptr;
        if (p) l.prog_set_autoload(p, programs.includes(name));
      }
    }
    const rc = this.withProfilerSignalBlocked(() => l.obj_load(this.obj) as number);
    if (rc < 0) throw new LibbpfError('bpf_object__load', -rc, this.path);
  }

  private prog(name: string): bigint {
    const p = L().find_prog(this.obj, name) as Ptr;
    if (!p) throw new LibbpfError('bpf_object__find_program_by_name', 2, `${name} in ${this.path}`);
    return p;
  }

  attach(name: string): void {
    const link = L().prog_attach(this.prog(name)) as Ptr;
    if (!link) throw new LibbpfError('bpf_program__attach', koffi.errno(), name);
    this.links.push(link);
  }

  /**
   * Attaches a cgroup program (cgroup/connect4, cgroup_skb/ingress, ...) to the
   * cgroup v2 directory at `path` as a bpf_link: it runs for every process in
   * that cgroup and all below it, so the root covers the host and the
   * processes of other network namespaces alike. The link holds its own
   * reference to the cgroup, so the directory fd is closed right away; the
   * link goes with detach() like the others.
   */
  attachCgroup(name: string, path: string): void {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new LibbpfError('open', Math.abs(err.errno ?? 2), `${path} (the cgroup v2 directory for ${name}): ${err.code ?? err.message}; set sensor.cgroup_path to where cgroup2 is mounted`);
    }
    try {
      const link = L().prog_attach_cgroup(this.prog(name), fd) as Ptr;
      if (!link) throw new LibbpfError('bpf_program__attach_cgroup', koffi.errno(), `${name} at ${path}`);
      this.links.push(link);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Runs an iterator program once in the network namespace of the calling
   * thread and returns everything it wrote. setns(CLONE_NEWNET) moves only
   * this thread, so the worker can visit each namespace and come back.
   */
  runIter(name: string): Buffer {
    const l = L();
    const link = l.attach_iter(this.prog(name), null) as Ptr;
    if (!link) throw new LibbpfError('bpf_program__attach_iter', koffi.errno(), name);
    try {
      const fd = l.iter_create(l.link_fd(link) as number) as number;
      if (fd < 0) throw new LibbpfError('bpf_iter_create', -fd, name);
      const chunks: Buffer[] = [];
      try {
        const buf = Buffer.alloc(65536);
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, null);
          if (n <= 0) break;
          chunks.push(Buffer.from(buf.subarray(0, n)));
        }
      } finally {
        // Not opened through node:fs, so not closed through it either.
        l.close(fd);
      }
      return Buffer.concat(chunks);
    } finally {
      l.link_destroy(link);
    }
  }

  progFd(name: string): number {
    return L().prog_fd(this.prog(name)) as number;
  }

  mapFd(name: string): number {
    const fd = L().find_map_fd(this.obj, name) as number;
    if (fd < 0) throw new LibbpfError('bpf_object__find_map_fd_by_name', -fd, name);
    return fd;
  }

  /** Runs a loaded, unattached program once (BPF_PROG_TEST_RUN); returns its return value. */
  testRun(name: string): number {
    const opts = { sz: koffi.sizeof(L().TestRunOpts), data_in: null, data_out: null, data_size_in: 0, data_size_out: 0, ctx_in: null, ctx_out: null, ctx_size_in: 0, ctx_size_out: 0, retval: 0, repeat: 0, duration: 0, flags: 0, cpu: 0, batch_size: 0 };
    const rc = L().prog_test_run(this.progFd(name), opts) as number;
    if (rc < 0) throw new LibbpfError('bpf_prog_test_run_opts', -rc, name);
    return opts.retval;
  }

  detach(): void {
    for (const link of this.links.splice(0)) L().link_destroy(link);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    L().obj_close(this.obj);
  }
}

export const HOOKS = ['on_set_state', 'on_destroy', 'on_retransmit', 'on_send_reset', 'on_receive_reset'] as const;
/** UDP flows (bpf/udp.bpf.c): attached with attachCgroup at the cgroup v2 root. */
export const UDP_CGROUP_HOOKS = [
  'udp_connect4', 'udp_connect6', 'udp_sendmsg4', 'udp_sendmsg6', 'udp_recvmsg4', 'udp_recvmsg6',
  'udp_egress', 'udp_ingress', 'udp_release',
] as const;
/** DNS programs, attached at the root cgroup (agent/dns-*.ts reads what they emit). */
export const DNS_CGROUP_HOOKS = ['dns_connect4', 'dns_connect6', 'dns_sendmsg4', 'dns_sendmsg6', 'dns_egress', 'dns_ingress'] as const;
export const ALL_PROGRAMS = [...HOOKS, ...UDP_CGROUP_HOOKS, ...DNS_CGROUP_HOOKS, 'refresh_bytes', 'seed_tcp'] as const;

const CLONE_NEWNET = 0x40000000;

/** Moves the calling thread into the network namespace open at `fd` (an fd of /proc/PID/ns/net). */
export function setNetns(fd: number): void {
  if ((L().setns(fd, CLONE_NEWNET) as number) < 0) throw new LibbpfError('setns', koffi.errno(), 'CLONE_NEWNET');
}

export function mapUpdate(fd: number, key: Buffer, value: Buffer, flags = 0): number {
  return L().map_update(fd, key, value, flags) as number;
}

export function mapDelete(fd: number, key: Buffer): number {
  return L().map_delete(fd, key) as number;
}

/**
 * Every value of a hash map, in chunks of `chunk` entries per syscall
 * (BPF_MAP_LOOKUP_BATCH): one FFI crossing per chunk instead of two per
 * entry. Returns one Buffer of count * valueSize bytes.
 */
export function dumpMapValues(fd: number, keySize: number, valueSize: number, chunk = 4096): { values: Buffer; count: number } {
  const l = L();
  const parts: Buffer[] = [];
  let total = 0;
  const inB = Buffer.alloc(keySize);
  const outB = Buffer.alloc(keySize);
  const keys = Buffer.alloc(keySize * chunk);
  const count = [0];
  let first = true;
  for (;;) {
    const values = Buffer.alloc(valueSize * chunk);
    count[0] = chunk;
    const rc = l.map_lookup_batch(fd, first ? null : inB, outB, keys, values, count, null) as number;
    const err = rc < 0 ? koffi.errno() : 0;
    const n = count[0] ?? 0;
    if (n > 0) { parts.push(values.subarray(0, n * valueSize)); total += n; }
    if (rc < 0) {
      if (err === 2 /* ENOENT: no more entries */) break;
      throw new LibbpfError('bpf_map_lookup_batch', err);
    }
    outB.copy(inB);
    first = false;
  }
  return { values: Buffer.concat(parts, total * valueSize), count: total };
}

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MAP_FAILED = (1n << 64n) - 1n;
const POLLIN = 1;
const SC_PAGESIZE = 30;
const RINGBUF_BUSY = 0x80000000;
const RINGBUF_DISCARD = 0x40000000;
const RINGBUF_HDR = 8;

/**
 * A BPF ring buffer read straight from its mmapped pages, the way libbpf's
 * ring_buffer__consume does it, but with no callback per record: read()
 * copies a whole batch into the caller's buffer in one loop. The data pages
 * are mapped twice back to back by the kernel, so a record that wraps is
 * still contiguous. Positions are u64 byte counters; held as numbers they are
 * exact up to 2^53 bytes (years at any realistic record rate).
 */
export class MappedRing {
  private readonly page: number;
  private readonly consPtr: bigint;
  private readonly prodPtr: bigint;
  private readonly cons: BigUint64Array;
  private readonly prod: BigUint64Array;
  private readonly data: Buffer;
  private readonly mask: number;
  private readonly pollfd = Buffer.alloc(8);
  private freed = false;

  constructor(private readonly mapFd: number, readonly size: number) {
    const l = L();
    this.page = Number(l.page_size(SC_PAGESIZE));
    const cons = l.mmap(null, this.page, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd, 0) as bigint;
    if (cons === MAP_FAILED) throw new LibbpfError('mmap', koffi.errno(), 'ring buffer consumer page');
    const prod = l.mmap(null, this.page + 2 * size, PROT_READ, MAP_SHARED, mapFd, this.page) as bigint;
    if (prod === MAP_FAILED) {
      l.munmap(cons, this.page);
      throw new LibbpfError('mmap', koffi.errno(), 'ring buffer producer and data pages');
    }
    this.consPtr = cons;
    this.prodPtr = prod;
    this.cons = new BigUint64Array(koffi.view(cons, 8));
    this.prod = new BigUint64Array(koffi.view(prod, 8));
    this.data = Buffer.from(koffi.view(prod, this.page + 2 * size), this.page, 2 * size);
    this.mask = size - 1;
    this.pollfd.writeInt32LE(mapFd, 0);
    this.pollfd.writeInt16LE(POLLIN, 4);
  }

  /** Bytes the kernel has committed or reserved that we have not consumed. */
  pending(): number {
    return Number(Atomics.load(this.prod, 0) - Atomics.load(this.cons, 0));
  }

  /** Blocks until the kernel signals data or timeoutMs passes. */
  wait(timeoutMs: number): void {
    this.pollfd.writeInt16LE(0, 6);
    const rc = L().poll(this.pollfd, 1, timeoutMs) as number;
    if (rc < 0) {
      const e = koffi.errno();
      if (e !== 4 /* EINTR: a signal, not an error */) throw new LibbpfError('poll', e, 'ring buffer');
    }
  }

  /** Blocks until any of `rings` has data signalled or timeoutMs passes (one poll over all their fds). */
  static waitAny(rings: MappedRing[], timeoutMs: number): void {
    const fds = Buffer.alloc(8 * rings.length);
    rings.forEach((r, i) => { fds.writeInt32LE(r.mapFd, 8 * i); fds.writeInt16LE(POLLIN, 8 * i + 4); });
    const rc = L().poll(fds, rings.length, timeoutMs) as number;
    if (rc < 0) {
      const e = koffi.errno();
      if (e !== 4 /* EINTR: a signal, not an error */) throw new LibbpfError('poll', e, 'ring buffers');
    }
  }

  /**
   * Copies up to `max` records of exactly `recSize` bytes into `out` (record
   * i at i * recSize) and releases their space to the kernel. Stops at the
   * first record the kernel has reserved but not yet submitted.
   */
  read(out: Buffer, recSize: number, max: number): number {
    let pos = Number(Atomics.load(this.cons, 0));
    const end = Number(Atomics.load(this.prod, 0));
    let n = 0;
    while (pos < end && n < max) {
      const off = pos & this.mask;
      const hdr = this.data.readUInt32LE(off);
      if (hdr & RINGBUF_BUSY) break;
      const len = hdr & ~(RINGBUF_BUSY | RINGBUF_DISCARD);
      if ((hdr & RINGBUF_DISCARD) === 0 && len >= recSize) {
        this.data.copy(out, n * recSize, off + RINGBUF_HDR, off + RINGBUF_HDR + recSize);
        n++;
      }
      pos += (len + RINGBUF_HDR + 7) & ~7;
    }
    Atomics.store(this.cons, 0, BigInt(pos));
    return n;
  }

  /**
   * Records of at least `recSize` bytes between the consumer and the producer,
   * without consuming them: what a stop that gives up now would lose. A record
   * still reserved (busy) counts too; discarded space does not.
   */
  unread(recSize: number): number {
    let pos = Number(Atomics.load(this.cons, 0));
    const end = Number(Atomics.load(this.prod, 0));
    let n = 0;
    while (pos < end) {
      const hdr = this.data.readUInt32LE(pos & this.mask);
      const len = hdr & ~(RINGBUF_BUSY | RINGBUF_DISCARD);
      if ((hdr & RINGBUF_DISCARD) === 0 && len >= recSize) n++;
      pos += (len + RINGBUF_HDR + 7) & ~7;
    }
    return n;
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    L().munmap(this.consPtr, this.page);
    L().munmap(this.prodPtr, this.page + 2 * this.size);
  }
}

/** Every (key, value) of a hash map, by get_next_key + lookup. Entries may vanish mid-walk. */
export function* walkMap(fd: number, keySize: number, valueSize: number): Generator<[Buffer, Buffer]> {
  const l = L();
  let key: Buffer | null = null;
  for (;;) {
    const next = Buffer.alloc(keySize);
    const rc = l.map_get_next_key(fd, key, next) as number;
    if (rc < 0) return; // -ENOENT: end of map
    const value = Buffer.alloc(valueSize);
    if ((l.map_lookup(fd, next, value) as number) === 0) yield [next, value];
    key = next;
  }
}

/** The per-CPU values of one PERCPU_ARRAY slot holding a u64. */
export function lookupPerCpuU64(fd: number, index: number, cpus: number): bigint[] {
  const key = Buffer.alloc(4);
  key.writeUInt32LE(index);
  const value = Buffer.alloc(8 * cpus);
  const rc = L().map_lookup(fd, key, value) as number;
  if (rc < 0) throw new LibbpfError('bpf_map_lookup_elem', -rc, `stats[${index}]`);
  return Array.from({ length: cpus }, (_, i) => value.readBigUInt64LE(i * 8));
}
