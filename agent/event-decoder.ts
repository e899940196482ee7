// Decodes struct ca_event (bpf/connaudit.h) from ring-buffer or map bytes.
// The offsets below are the contract with the C header; the BTF layout test
// (test/integration/btf-layout.test.ts) reads the compiled object's BTF and
// fails on any difference in a field's offset or size, or in the total size.

export interface FieldLayout {
  offset: number;
  size: number;
}

/** struct ca_event, field name -> [offset, size] in bytes, exactly as in the C header. */
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
  total_retrans: { offset: 88, size: 4 },
  retransmits: { offset: 92, size: 4 },
  syn_retransmits: { offset: 96, size: 4 },
  rst_sent: { offset: 100, size: 4 },
  rst_received: { offset: 104, size: 4 },
  states: { offset: 108, size: 4 },
  flags: { offset: 112, size: 4 },
  handshake_us: { offset: 116, size: 4 },
  sport: { offset: 120, size: 2 },
  dport: { offset: 122, size: 2 },
  family: { offset: 124, size: 2 },
  sk_err: { offset: 126, size: 2 },
  kind: { offset: 128, size: 1 },
  last_state: { offset: 129, size: 1 },
  pad0: { offset: 130, size: 6 },
  saddr: { offset: 136, size: 16 },
  daddr: { offset: 152, size: 16 },
  comm: { offset: 168, size: 16 },
} as const satisfies Record<string, FieldLayout>;

export const EVENT_SIZE = 184;

// bpf/connaudit.h constants, mirrored.
export const KIND_FINAL = 1;
export const KIND_INTERIM = 2;
export const F_ACTIVE = 1 << 0;
export const F_OWNER_LISTENER = 1 << 1;
export const F_NO_OWNER = 1 << 2;
export const F_SAMPLED = 1 << 3;
export const F_CLOSED = 1 << 4;
export const F_RST_SENT_FIRST = 1 << 5;
export const F_BYTES_FRESH = 1 << 6;
export const F_PEER_FIN = 1 << 7;
export const F_ALL_ACKED = 1 << 8;

export const STAT = { ringbufDrops: 0, filtered: 1, sampledOut: 2, sampledIn: 3, stateFull: 4, events: 5 } as const;

/** include/net/tcp_states.h */
export const TCP = {
  ESTABLISHED: 1, SYN_SENT: 2, SYN_RECV: 3, FIN_WAIT1: 4, FIN_WAIT2: 5, TIME_WAIT: 6,
  CLOSE: 7, CLOSE_WAIT: 8, LAST_ACK: 9, LISTEN: 10, CLOSING: 11,
} as const;

export const AF_INET = 2;
export const AF_INET6 = 10;

/** One struct ca_event, numbers widened: u64 times and ids stay bigint, counters become numbers. */
export interface RawEvent {
  sockId: bigint;
  startNs: bigint;
  synNs: bigint;
  establishedNs: bigint;
  endNs: bigint;
  cgroupId: bigint;
  bytesAcked: bigint;
  bytesReceived: bigint;
  netns: number;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  srttUs: number;
  totalRetrans: number;
  retransmits: number;
  synRetransmits: number;
  rstSent: number;
  rstReceived: number;
  states: number;
  flags: number;
  handshakeUs: number;
  sport: number;
  dport: number;
  family: number;
  skErr: number;
  kind: number;
  lastState: number;
  /** 4 bytes for AF_INET, 16 for AF_INET6 (v4-mapped already unmapped by the kernel side). */
  localAddr: Buffer;
  remoteAddr: Buffer;
  comm: string;
}

export class EventDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventDecodeError';
  }
}

const F = EVENT_LAYOUT;

function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return Buffer.from(b.subarray(0, end < 0 ? b.length : end)).toString('utf8');
}

export function decodeEvent(bytes: Uint8Array): RawEvent {
  if (bytes.length < EVENT_SIZE) {
    throw new EventDecodeError(`ca_event is ${EVENT_SIZE} bytes, got ${bytes.length}: the agent and bpf/connaudit.bpf.o were built from different headers; rebuild both (make -C bpf && npx tsc -p .)`);
  }
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, EVENT_SIZE);
  const family = b.readUInt16LE(F.family.offset);
  if (family !== AF_INET && family !== AF_INET6) {
    throw new EventDecodeError(`ca_event.family (offset ${F.family.offset}) is ${family}, expected ${AF_INET} or ${AF_INET6}`);
  }
  const alen = family === AF_INET ? 4 : 16;
  return {
    sockId: b.readBigUInt64LE(F.sock_id.offset),
    startNs: b.readBigUInt64LE(F.start_ns.offset),
    synNs: b.readBigUInt64LE(F.syn_ns.offset),
    establishedNs: b.readBigUInt64LE(F.established_ns.offset),
    endNs: b.readBigUInt64LE(F.end_ns.offset),
    cgroupId: b.readBigUInt64LE(F.cgroup_id.offset),
    bytesAcked: b.readBigUInt64LE(F.bytes_acked.offset),
    bytesReceived: b.readBigUInt64LE(F.bytes_received.offset),
    netns: b.readUInt32LE(F.netns.offset),
    pid: b.readUInt32LE(F.pid.offset),
    tid: b.readUInt32LE(F.tid.offset),
    ppid: b.readUInt32LE(F.ppid.offset),
    uid: b.readUInt32LE(F.uid.offset),
    srttUs: b.readUInt32LE(F.srtt_us.offset),
    totalRetrans: b.readUInt32LE(F.total_retrans.offset),
    retransmits: b.readUInt32LE(F.retransmits.offset),
    synRetransmits: b.readUInt32LE(F.syn_retransmits.offset),
    rstSent: b.readUInt32LE(F.rst_sent.offset),
    rstReceived: b.readUInt32LE(F.rst_received.offset),
    states: b.readUInt32LE(F.states.offset),
    flags: b.readUInt32LE(F.flags.offset),
    handshakeUs: b.readUInt32LE(F.handshake_us.offset),
    sport: b.readUInt16LE(F.sport.offset),
    dport: b.readUInt16LE(F.dport.offset),
    family,
    skErr: b.readUInt16LE(F.sk_err.offset),
    kind: b.readUInt8(F.kind.offset),
    lastState: b.readUInt8(F.last_state.offset),
    localAddr: Buffer.from(b.subarray(F.saddr.offset, F.saddr.offset + alen)),
    remoteAddr: Buffer.from(b.subarray(F.daddr.offset, F.daddr.offset + alen)),
    comm: cString(b.subarray(F.comm.offset, F.comm.offset + F.comm.size)),
  };
}

/** True if the socket ever entered `state` (bit (1 << state) of ca_event.states). */
export const visited = (ev: Pick<RawEvent, 'states'>, state: number): boolean => (ev.states & (1 << state)) !== 0;
