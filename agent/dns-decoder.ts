import { AF_INET, AF_INET6, EventDecodeError, type FieldLayout } from './event-decoder.js';

// Decodes struct ca_dns_event (bpf/dns.h). Offsets and enum values are the
// contract with the C header; test/integration/btf-layout.test.ts compares
// them with the BTF of the built object.

export const DNS_EVENT_LAYOUT = {
  ts_ns: { offset: 0, size: 8 },
  cookie: { offset: 8, size: 8 },
  cgroup_id: { offset: 16, size: 8 },
  netns: { offset: 24, size: 4 },
  pid: { offset: 28, size: 4 },
  tid: { offset: 32, size: 4 },
  ppid: { offset: 36, size: 4 },
  uid: { offset: 40, size: 4 },
  flags: { offset: 44, size: 4 },
  lport: { offset: 48, size: 2 },
  rport: { offset: 50, size: 2 },
  family: { offset: 52, size: 2 },
  msg_len: { offset: 54, size: 2 },
  wire_len: { offset: 56, size: 2 },
  pad0: { offset: 58, size: 6 },
  laddr: { offset: 64, size: 16 },
  raddr: { offset: 80, size: 16 },
  comm: { offset: 96, size: 16 },
  msg: { offset: 112, size: 512 },
} as const satisfies Record<string, FieldLayout>;

/** struct ca_dns_owner (socket-local storage written at connect/sendmsg). */
export const DNS_OWNER_LAYOUT = {
  cgroup_id: { offset: 0, size: 8 },
  pid: { offset: 8, size: 4 },
  tid: { offset: 12, size: 4 },
  ppid: { offset: 16, size: 4 },
  uid: { offset: 20, size: 4 },
  comm: { offset: 24, size: 16 },
} as const satisfies Record<string, FieldLayout>;

/** enum ca_dns_sizes */
export const DNS_SIZES = {
  CA_DNS_MSG_MAX: 512, CA_DNS_MAX_ANSWERS: 16, CA_DNS_MAX_LABELS: 64, CA_DNS_EVENT_SIZE: 624, CA_DNS_OWNER_SIZE: 40,
} as const;
export const DNS_EVENT_SIZE = DNS_SIZES.CA_DNS_EVENT_SIZE;

/** enum ca_dns_flag */
export const DNS_FLAG = {
  CA_DNS_F_ANSWER: 1 << 0,
  CA_DNS_F_TCP: 1 << 1,
  CA_DNS_F_OWNER: 1 << 2,
  CA_DNS_F_CUT: 1 << 3,
} as const;

/** enum ca_dns_stat */
export const DNS_STAT_ENUM = {
  CA_DNS_STAT_QUERIES: 0,
  CA_DNS_STAT_ANSWERS: 1,
  CA_DNS_STAT_RINGBUF_DROPS: 2,
  CA_DNS_STAT_PARSE_ERRORS: 3,
  CA_DNS_STAT_TCP_SKIPPED: 4,
  CA_DNS_STAT_OWNER_NOMEM: 5,
  CA_DNS_STAT_FILTERED: 6,
  CA_DNS_STAT_MAX: 8,
} as const;

/** The same counters under the names the agent reports them by. */
export const DNS_STAT = {
  queries: DNS_STAT_ENUM.CA_DNS_STAT_QUERIES,
  answers: DNS_STAT_ENUM.CA_DNS_STAT_ANSWERS,
  ringbufDrops: DNS_STAT_ENUM.CA_DNS_STAT_RINGBUF_DROPS,
  parseErrors: DNS_STAT_ENUM.CA_DNS_STAT_PARSE_ERRORS,
  tcpSkipped: DNS_STAT_ENUM.CA_DNS_STAT_TCP_SKIPPED,
  ownerNomem: DNS_STAT_ENUM.CA_DNS_STAT_OWNER_NOMEM,
  filtered: DNS_STAT_ENUM.CA_DNS_STAT_FILTERED,
} as const;

export interface DnsEvent {
  ts_ns: bigint;
  cookie: bigint;
  cgroup_id: bigint;
  netns: number;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  flags: number;
  lport: number;
  rport: number;
  family: number;
  wire_len: number;
  laddr: Buffer;
  raddr: Buffer;
  comm: string;
  /** The header, question and answer sections as the kernel kept them (see bpf/dns.h). */
  msg: Buffer;
}

const F = DNS_EVENT_LAYOUT;

function cString(b: Buffer, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return b.toString('utf8', start, end);
}

export function decodeDnsEvent(bytes: Uint8Array, offset = 0): DnsEvent {
  if (bytes.length - offset < DNS_EVENT_SIZE) {
    throw new EventDecodeError(`ca_dns_event is ${DNS_EVENT_SIZE} bytes, got ${bytes.length - offset}: rebuild bpf/ and the agent together (make -C bpf && npx tsc -p .)`);
  }
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const o = offset;
  const family = b.readUInt16LE(o + F.family.offset);
  if (family !== AF_INET && family !== AF_INET6) throw new EventDecodeError(`ca_dns_event.family is ${family}, expected ${AF_INET} or ${AF_INET6}`);
  const msgLen = b.readUInt16LE(o + F.msg_len.offset);
  if (msgLen < 12 || msgLen > F.msg.size) throw new EventDecodeError(`ca_dns_event.msg_len is ${msgLen}, expected 12..${F.msg.size}`);
  const alen = family === AF_INET ? 4 : 16;
  const bytesAt = (f: FieldLayout, n: number): Buffer => Buffer.from(b.subarray(o + f.offset, o + f.offset + n));
  return {
    ts_ns: b.readBigUInt64LE(o + F.ts_ns.offset),
    cookie: b.readBigUInt64LE(o + F.cookie.offset),
    cgroup_id: b.readBigUInt64LE(o + F.cgroup_id.offset),
    netns: b.readUInt32LE(o + F.netns.offset),
    pid: b.readUInt32LE(o + F.pid.offset),
    tid: b.readUInt32LE(o + F.tid.offset),
    ppid: b.readUInt32LE(o + F.ppid.offset),
    uid: b.readUInt32LE(o + F.uid.offset),
    flags: b.readUInt32LE(o + F.flags.offset),
    lport: b.readUInt16LE(o + F.lport.offset),
    rport: b.readUInt16LE(o + F.rport.offset),
    family,
    wire_len: b.readUInt16LE(o + F.wire_len.offset),
    laddr: bytesAt(F.laddr, alen),
    raddr: bytesAt(F.raddr, alen),
    comm: cString(b, o + F.comm.offset, F.comm.size),
    msg: bytesAt(F.msg, msgLen),
  };
}
