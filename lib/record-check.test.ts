import { describe, expect, it } from 'vitest';
import { record } from '../test/helpers/records.js';
import { ipToBytes } from './ip.js';
import type { ConnectionRecord } from './record.js';
import { checkRecord, formatProblems } from './record-check.js';

// Every range check of the record in one table: what is refused, and the
// field the refusal names (Avro name and document path).

describe('checkRecord', () => {
  it('accepts a complete record and one with every optional field null', () => {
    expect(checkRecord(record(1))).toEqual([]);
    expect(checkRecord(record(2, {
      connect_latency_us: null, srtt_us: null, src_bytes: null, dst_bytes: null, pid: null, tid: null, ppid: null, uid: null,
      comm: null, executable: null, parent_name: null, cgroup_id: null, container_id: null, environment: null, node_group: null,
    }))).toEqual([]);
  });

  it.each<[string, Partial<ConnectionRecord>]>([
    ['port 0 and 65535', { src_port: 0, dst_port: 65535 }],
    ['a zero-length connection', { end_us: record(1).start_us }],
    ['ipv6 addresses', { family: 'ipv6', src_ip: ipToBytes('fd00::1'), dst_ip: ipToBytes('fd00::2') }],
    ['zero bytes and latency', { src_bytes: 0, dst_bytes: 0, connect_latency_us: 0 }],
  ])('accepts %s', (_n, over) => {
    expect(checkRecord(record(1, over))).toEqual([]);
  });

  it.each<[string, Partial<ConnectionRecord>, string, string, RegExp]>([
    ['port 70000', { dst_port: 70000 }, 'dst_port', 'destination.port', /at most 65535, got 70000/],
    ['a negative port', { src_port: -1 }, 'src_port', 'source.port', /at least 0, got -1/],
    ['negative bytes', { src_bytes: -5 }, 'src_bytes', 'source.bytes', /at least 0, got -5/],
    ['negative responder bytes', { dst_bytes: -1 }, 'dst_bytes', 'destination.bytes', /at least 0/],
    ['a negative latency', { connect_latency_us: -20 }, 'connect_latency_us', 'connaudit.connect_latency_ms', /at least 0/],
    ['a negative RTT', { srtt_us: -1 }, 'srtt_us', 'connaudit.srtt_ms', /at least 0/],
    ['negative retransmits', { retransmits: -3 }, 'retransmits', 'connaudit.retransmits', /at least 0/],
    ['negative RST counts', { rst_received: -1 }, 'rst_received', 'connaudit.rst_received', /at least 0/],
    ['a fractional counter', { syn_retransmits: 1.5 }, 'syn_retransmits', 'connaudit.syn_retransmits', /whole number/],
    ['an end before the start', { end_us: record(1).start_us - 1 }, 'end_us', 'event.end', /before the start/],
    ['a negative start', { start_us: -1 }, 'start_us', 'event.start', /at least 0/],
    ['a 3-byte address', { src_ip: Buffer.from([10, 0, 0]) }, 'src_ip', 'source.ip', /4- or 16-byte/],
    ['mixed address families', { dst_ip: ipToBytes('fd00::2') }, 'dst_ip', 'destination.ip', /different address family/],
    ['an event id Elasticsearch refuses', { event_id: 'x'.repeat(513) }, 'event_id', 'event.id', /at most 512 bytes/],
    ['an unknown state', { conn_state: 'XX' as never }, 'conn_state', 'connaudit.conn_state', /must be one of/],
    ['a negative pid', { pid: -7 }, 'pid', 'process.pid', /at least 0/],
    ['a netns inode beyond 32 bits', { netns: 2 ** 32 }, 'netns', 'connaudit.netns', /at most 4294967295/],
  ])('refuses %s', (_n, over, field, ecs, message) => {
    const problems = checkRecord(record(1, over));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ field, ecs });
    expect(problems[0]!.message).toMatch(message);
  });

  it('reports every problem at once, each by name', () => {
    const problems = checkRecord(record(1, { src_port: 70000, src_bytes: -1, retransmits: -1 }));
    expect(problems.map((p) => p.field)).toEqual(['src_port', 'retransmits', 'src_bytes']);
    expect(formatProblems(problems)).toBe('source.port (src_port) must be at most 65535, got 70000; connaudit.retransmits (retransmits) must be at least 0, got -1; source.bytes (src_bytes) must be at least 0, got -1');
  });
});
