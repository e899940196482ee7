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

const ERRNO_NAMES: Record<number, string> = { 1: 'EPERM', 2: 'ENOENT', 7: 'E2BIG', 12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT', 16: 'EBUSY', 22: 'EINVAL', 95: 'EOPNOTSUPP', 524: 'ENOTSUPP' };
export const errnoName = (e: number): string => ERRNO_NAMES[Math.abs(e)] ?? `errno ${Math.abs(e)}`;

let lib: ReturnType<typeof bind> | null = null;

function bind() {
  const so = koffi.load('libbpf.so.1');
  const libc = koffi.load('libc.so.6');
  const PrintFn = koffi.proto('int connaudit_libbpf_print(int level, const char *fmt, void *args)');
  const SampleFn = koffi.proto('int connaudit_ring_sample(void *ctx, void *data, size_t size)');
  const TestRunOpts = koffi.struct('connaudit_bpf_test_run_opts', {
    sz: 'size_t',
    data_in: 'void *', data_out: 'void *', data_size_in: 'uint32_t', data_size_out: 'uint32_t',
    ctx_in: 'void *', ctx_out: 'void *', ctx_size_in: 'uint32_t', ctx_size_out: 'uint32_t',
    retval: 'uint32_t', repeat: 'int', duration: 'uint32_t', flags: 'uint32_t', cpu: 'uint32_t', batch_size: 'uint32_t',
  });
  return {
    PrintFn, SampleFn, TestRunOpts,
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
    link_destroy: so.func('int bpf_link__destroy(void *link)'),
    rb_new: so.func('void *ring_buffer__new(int map_fd, connaudit_ring_sample *cb, void *ctx, void *opts)'),
    rb_poll: so.func('int ring_buffer__poll(void *rb, int timeout_ms)'),
    rb_consume: so.func('int ring_buffer__consume(void *rb)'),
    rb_free: so.func('void ring_buffer__free(void *rb)'),
    map_get_next_key: so.func('int bpf_map_get_next_key(int fd, const uint8_t *key, _Out_ uint8_t *next_key)'),
    map_lookup: so.func('int bpf_map_lookup_elem(int fd, const uint8_t *key, _Out_ uint8_t *value)'),
    prog_test_run: so.func('int bpf_prog_test_run_opts(int fd, _Inout_ connaudit_bpf_test_run_opts *opts)'),
    num_cpus: so.func('int libbpf_num_possible_cpus()'),
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
  const buf = Buffer.alloc(8192);
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

  /** Programs not listed are not loaded at all (cheaper, and a missing hook cannot fail the load). */
  load(programs?: string[]): void {
    const l = L();
    if (programs) {
      for (const name of ALL_PROGRAMS) {
        const p = l.find_prog(this.obj, name) as Ptr;
        if (p) l.prog_set_autoload(p, programs.includes(name));
      }
    }
    const rc = l.obj_load(this.obj) as number;
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

export const ALL_PROGRAMS = ['on_set_state', 'on_destroy', 'on_retransmit', 'on_send_reset', 'on_receive_reset', 'refresh_bytes'] as const;

/**
 * A libbpf ring buffer. `onSample` gets a view of kernel-shared memory that is
 * only valid during the call: copy what you keep.
 */
export class RingBuffer {
  private rb: bigint;
  private cb: bigint;

  constructor(mapFd: number, onSample: (view: Uint8Array) => void) {
    const l = L();
    this.cb = koffi.register((_ctx: bigint, data: bigint, size: number) => {
      onSample(new Uint8Array(koffi.view(data, size)));
      return 0;
    }, koffi.pointer(l.SampleFn));
    const rb = l.rb_new(mapFd, this.cb, null, null) as Ptr;
    if (!rb) {
      koffi.unregister(this.cb);
      throw new LibbpfError('ring_buffer__new', koffi.errno());
    }
    this.rb = rb;
  }

  /**
   * Blocks up to timeoutMs, then drains whatever is queued: the kernel side
   * wakes us only per batch, so records below the batch size are picked up
   * here. Returns the number of records consumed.
   */
  poll(timeoutMs: number): number {
    const n = L().rb_poll(this.rb, timeoutMs) as number;
    if (n < 0 && n !== -4 /* EINTR: a signal, not an error */) throw new LibbpfError('ring_buffer__poll', -n);
    const m = L().rb_consume(this.rb) as number;
    if (m < 0) throw new LibbpfError('ring_buffer__consume', -m);
    return Math.max(0, n) + m;
  }

  free(): void {
    L().rb_free(this.rb);
    koffi.unregister(this.cb);
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
