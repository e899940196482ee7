// Decodes struct ca_event (bpf/connaudit.h) from ring-buffer or map bytes,
// keeping the C field names so one name means one thing from the kernel to
// the record builder. The offsets and the enum values below are the contract
// with the C header; the BTF layout test (test/integration/btf-layout.test.ts)
// reads the compiled object's BTF and fails on any difference.

export interface FieldLayout {
  offset: number;
  size: number;
  /** The record field this counter is copied to as it is. */
  record?: string;
}

/**
 * struct ca_event, field name -> [offset, size] in bytes, exactly as in the C
 * header. A field with `record` reaches the wire record unchanged under that
 * name (an unsigned counter the kernel fills and user space only copies): such
 * a field needs no code here or in record-builder.ts, only this line.
 */
export const EVENT_LAYOUT = {
  sock_id: { offset: 0, size: 8 },
  start_ns: { offset: 8, size: 8 },
  syn_ns: { offset: 16, size: 8 },
  established_ns: { offset: 24, size: 8 },
  end_ns: { offset: 32, size: 8 },
  cgroup_id: { offset: 40, size: 8 },
  bytes_acked: { offset: 48, size: 8 },
  bytes_received: { offset: 56, size: 8 },
  netns: { offset: 64, size: 4 },
  pid: { offset: 68, size: 4 },
  tid: { offset: 72, size: 4 },
  ppid: { offset: 76, size: 4 },
  uid: { offset: 80, size: 4 },
  srtt_us: { offset: 84, size: 4 },
  retransmits: { offset: 88, size: 4, record: 'retransmits' },
  syn_retransmits: { offset: 92, size: 4, record: 'syn_retransmits' },
  rst_sent: { offset: 96, size: 4, record: 'rst_sent' },
  rst_received: { offset: 100, size: 4, record: 'rst_received' },
  states: { offset: 104, size: 4 },
  flags: { offset: 108, size: 4 },
  handshake_us: { offset: 112, size: 4 },
  sport: { offset: 116, size: 2 },
  dport: { offset: 118, size: 2 },
  family: { offset: 120, size: 2 },
  sk_err: { offset: 122, size: 2 },
  pad0: { offset: 124, size: 4 },
  saddr: { offset: 128, size: 16 },
  daddr: { offset: 144, size: 16 },
  comm: { offset: 160, size: 16 },
  pkts_sent: { offset: 176, size: 8 },
  pkts_received: { offset: 184, size: 8 },
  last_ns: { offset: 192, size: 8 },
} as const satisfies Record<string, FieldLayout>;

/** struct ca_udp_key: the key of udp_flows, rebuilt from a flow's event to delete it. */
export const UDP_KEY_LAYOUT = {
  cookie: { offset: 0, size: 8 },
  addr: { offset: 8, size: 16 },
  port: { offset: 24, size: 2 },
  family: { offset: 26, size: 2 },
  pad: { offset: 28, size: 4 },
} as const satisfies Record<string, FieldLayout>;

/** struct ca_owner: what the agent writes into seed_owners (and the kernel into listeners). */
export const OWNER_LAYOUT = {
  sock_id: { offset: 0, size: 8 },
  cgroup_id: { offset: 8, size: 8 },
  pid: { offset: 16, size: 4 },
  tid: { offset: 20, size: 4 },
  ppid: { offset: 24, size: 4 },
  uid: { offset: 28, size: 4 },
  comm: { offset: 32, size: 16 },
} as const satisfies Record<string, FieldLayout>;
export const OWNER_SIZE = 48;

/** enum ca_sizes */
export const SIZES = {
  CA_COMM_LEN: 16, CA_ADDR_LEN: 16, CA_EVENT_SIZE: 200, CA_UDP_KEY_SIZE: 32, CA_CONFIG_SIZE: 312,
  CA_MAX_IGNORED_PORTS: 16, CA_MAX_IGNORED_CIDRS4: 8, CA_MAX_IGNORED_CIDRS6: 8, CA_MAX_NETNS: 8,
} as const;
export const EVENT_SIZE = SIZES.CA_EVENT_SIZE;
export const UDP_KEY_SIZE = SIZES.CA_UDP_KEY_SIZE;

/** enum ca_flag */
export const FLAG = {
  CA_F_ACTIVE: 1 << 0,
  CA_F_NO_OWNER: 1 << 2,
  CA_F_SAMPLED: 1 << 3,
  CA_F_CLOSED: 1 << 4,
  CA_F_RST_SENT_FIRST: 1 << 5,
  CA_F_BYTES_FRESH: 1 << 6,
  CA_F_PEER_FIN: 1 << 7,
  CA_F_ALL_ACKED: 1 << 8,
  CA_F_PREEXISTING: 1 << 9,
  CA_F_DIR_GUESSED: 1 << 10,
  CA_F_OWNER_GONE: 1 << 11,
  CA_F_UDP: 1 << 12,
} as const;
export const {
  CA_F_ACTIVE: F_ACTIVE, CA_F_NO_OWNER: F_NO_OWNER, CA_F_SAMPLED: F_SAMPLED, CA_F_CLOSED: F_CLOSED,
  CA_F_RST_SENT_FIRST: F_RST_SENT_FIRST, CA_F_BYTES_FRESH: F_BYTES_FRESH, CA_F_PEER_FIN: F_PEER_FIN,
  CA_F_ALL_ACKED: F_ALL_ACKED, CA_F_PREEXISTING: F_PREEXISTING, CA_F_DIR_GUESSED: F_DIR_GUESSED, CA_F_OWNER_GONE: F_OWNER_GONE,
  CA_F_UDP: F_UDP,
} = FLAG;

/** enum ca_stat: the per-CPU counters of the `stats` map. */
export const STAT_ENUM = {
  CA_STAT_RINGBUF_DROPS: 0,
  CA_STAT_FILTERED: 1,
  CA_STAT_SAMPLED_OUT: 2,
  CA_STAT_UNTRACKED_MAP_FULL: 3,
  CA_STAT_UNTRACKED_NOMEM: 4,
  CA_STAT_UNTRACKED_OTHER: 5,
  CA_STAT_STALE_REPLACED: 6,
  CA_STAT_MAX: 8,
} as const;

/** The same counters under the names the agent reports them by. */
export const STAT = {
  ringbufDrops: STAT_ENUM.CA_STAT_RINGBUF_DROPS,
  filtered: STAT_ENUM.CA_STAT_FILTERED,
  sampledOut: STAT_ENUM.CA_STAT_SAMPLED_OUT,
  untrackedMapFull: STAT_ENUM.CA_STAT_UNTRACKED_MAP_FULL,
  untrackedNomem: STAT_ENUM.CA_STAT_UNTRACKED_NOMEM,
  untrackedOther: STAT_ENUM.CA_STAT_UNTRACKED_OTHER,
  staleReplaced: STAT_ENUM.CA_STAT_STALE_REPLACED,
} as const;

/** enum ca_seed_mark: one byte per socket in the start-up scan's output. */
export const SEED_MARK = {
  CA_SEED_LISTENER: 'L'.charCodeAt(0),
  CA_SEED_LISTENER_NO_OWNER: 'l'.charCodeAt(0),
  CA_SEED_CONN: 'C'.charCodeAt(0),
  CA_SEED_CONN_NO_OWNER: 'c'.charCodeAt(0),
  CA_SEED_NOT_TRACKED: 'x'.charCodeAt(0),
} as const;

/** include/net/tcp_states.h */
export const TCP = {
  ESTABLISHED: 1, SYN_SENT: 2, SYN_RECV: 3, FIN_WAIT1: 4, FIN_WAIT2: 5, TIME_WAIT: 6,
  CLOSE: 7, CLOSE_WAIT: 8, LAST_ACK: 9, LISTEN: 10, CLOSING: 11,
} as const;

export const AF_INET = 2;
export const AF_INET6 = 10;

/**
 * One struct ca_event under its C names. u64 times and ids stay bigint,
 * counters are numbers; saddr/daddr are 4 bytes for AF_INET and 16 for
 * AF_INET6 (v4-mapped already unmapped by the kernel side).
 */
export interface CaEvent {
  sock_id: bigint;
  start_ns: bigint;
  syn_ns: bigint;
  established_ns: bigint;
  end_ns: bigint;
  cgroup_id: bigint;
  bytes_acked: bigint;
  bytes_received: bigint;
  netns: number;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  srtt_us: number;
  retransmits: number;
  syn_retransmits: number;
  rst_sent: number;
  rst_received: number;
  states: number;
  flags: number;
  handshake_us: number;
  sport: number;
  dport: number;
  family: number;
  sk_err: number;
  saddr: Buffer;
  daddr: Buffer;
  comm: string;
  /** UDP flows only: datagrams each way and the boot time of the last one (0 for TCP). */
  pkts_sent: bigint;
  pkts_received: bigint;
  last_ns: bigint;
  /** The fields marked `record` in EVENT_LAYOUT, under their record names. */
  passthrough: Record<string, number>;
}

export class EventDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventDecodeError';
  }
}

const F = EVENT_LAYOUT;
const PASSTHROUGH: ReadonlyArray<{ record: string; offset: number; size: number }> = Object.values(EVENT_LAYOUT as Record<string, FieldLayout>)
  .filter((f): f is FieldLayout & { record: string } => f.record !== undefined);

/** The passthrough map of an event built by hand (tests): the `record` fields' values from their C names. */
export function passthroughOf(ev: Omit<CaEvent, 'passthrough'>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, f] of Object.entries(EVENT_LAYOUT as Record<string, FieldLayout>)) {
    if (f.record !== undefined) out[f.record] = Number((ev as unknown as Record<string, number | bigint>)[name] ?? 0);
  }
  return out;
}

function readPassthrough(b: Buffer, o: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of PASSTHROUGH) {
    out[f.record] = f.size === 8 ? Number(b.readBigUInt64LE(o + f.offset)) : f.size === 4 ? b.readUInt32LE(o + f.offset) : f.size === 2 ? b.readUInt16LE(o + f.offset) : b.readUInt8(o + f.offset);
  }
  return out;
}

function cString(b: Buffer, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return b.toString('utf8', start, end);
}

/** Decodes the event at `offset` of `b` (a whole batch can be one Buffer). */
export function decodeEvent(bytes: Uint8Array, offset = 0): CaEvent {
  if (bytes.length - offset < EVENT_SIZE) {
    throw new EventDecodeError(`ca_event is ${EVENT_SIZE} bytes, got ${bytes.length - offset}: the agent and bpf/connaudit.bpf.o were built from different headers; rebuild both (make -C bpf && npx tsc -p .)`);
  }
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const o = offset;
  const family = b.readUInt16LE(o + F.family.offset);
  if (family !== AF_INET && family !== AF_INET6) {
    throw new EventDecodeError(`ca_event.family (offset ${F.family.offset}) is ${family}, expected ${AF_INET} or ${AF_INET6}`);
  }
  const alen = family === AF_INET ? 4 : 16;
  return {
    sock_id: b.readBigUInt64LE(o + F.sock_id.offset),
    start_ns: b.readBigUInt64LE(o + F.start_ns.offset),
    syn_ns: b.readBigUInt64LE(o + F.syn_ns.offset),
    established_ns: b.readBigUInt64LE(o + F.established_ns.offset),
    end_ns: b.readBigUInt64LE(o + F.end_ns.offset),
    cgroup_id: b.readBigUInt64LE(o + F.cgroup_id.offset),
    bytes_acked: b.readBigUInt64LE(o + F.bytes_acked.offset),
    bytes_received: b.readBigUInt64LE(o + F.bytes_received.offset),
    netns: b.readUInt32LE(o + F.netns.offset),
    pid: b.readUInt32LE(o + F.pid.offset),
    tid: b.readUInt32LE(o + F.tid.offset),
    ppid: b.readUInt32LE(o + F.ppid.offset),
    uid: b.readUInt32LE(o + F.uid.offset),
    srtt_us: b.readUInt32LE(o + F.srtt_us.offset),
    retransmits: b.readUInt32LE(o + F.retransmits.offset),
    syn_retransmits: b.readUInt32LE(o + F.syn_retransmits.offset),
    rst_sent: b.readUInt32LE(o + F.rst_sent.offset),
    rst_received: b.readUInt32LE(o + F.rst_received.offset),
    states: b.readUInt32LE(o + F.states.offset),
    flags: b.readUInt32LE(o + F.flags.offset),
    handshake_us: b.readUInt32LE(o + F.handshake_us.offset),
    sport: b.readUInt16LE(o + F.sport.offset),
    dport: b.readUInt16LE(o + F.dport.offset),
    family,
    sk_err: b.readUInt16LE(o + F.sk_err.offset),
    // Copies: a batch buffer is reused, the record outlives it.
    saddr: Buffer.from(b.subarray(o + F.saddr.offset, o + F.saddr.offset + alen)),
    daddr: Buffer.from(b.subarray(o + F.daddr.offset, o + F.daddr.offset + alen)),
    comm: cString(b, o + F.comm.offset, F.comm.size),
    pkts_sent: b.readBigUInt64LE(o + F.pkts_sent.offset),
    pkts_received: b.readBigUInt64LE(o + F.pkts_received.offset),
    last_ns: b.readBigUInt64LE(o + F.last_ns.offset),
    passthrough: readPassthrough(b, o),
  };
}

/** The udp_flows key of a UDP flow's event: the socket cookie and the peer, as the kernel keyed it. */
export function udpKeyOf(ev: Pick<CaEvent, 'sock_id' | 'daddr' | 'dport' | 'family'>): Buffer {
  const k = Buffer.alloc(UDP_KEY_SIZE);
  const K = UDP_KEY_LAYOUT;
  k.writeBigUInt64LE(ev.sock_id, K.cookie.offset);
  ev.daddr.copy(k, K.addr.offset, 0, Math.min(ev.daddr.length, K.addr.size));
  k.writeUInt16LE(ev.dport, K.port.offset);
  k.writeUInt16LE(ev.family, K.family.offset);
  return k;
}

/** The same key read straight from a flow's raw event bytes at `o` (the worker's map walk). */
export function udpKeyAt(b: Buffer, o: number): Buffer {
  const k = Buffer.alloc(UDP_KEY_SIZE);
  const K = UDP_KEY_LAYOUT;
  b.copy(k, K.cookie.offset, o + F.sock_id.offset, o + F.sock_id.offset + 8);
  b.copy(k, K.addr.offset, o + F.daddr.offset, o + F.daddr.offset + K.addr.size);
  b.copy(k, K.port.offset, o + F.dport.offset, o + F.dport.offset + 2);
  b.copy(k, K.family.offset, o + F.family.offset, o + F.family.offset + 2);
  return k;
}

export const isUdp = (ev: Pick<CaEvent, 'flags'>): boolean => (ev.flags & F_UDP) !== 0;

/** True if the socket ever entered `state` (bit (1 << state) of ca_event.states). */
export const visited = (ev: Pick<CaEvent, 'states'>, state: number): boolean => (ev.states & (1 << state)) !== 0;
