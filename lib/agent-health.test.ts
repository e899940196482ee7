import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { fingerprintOf } from './avro.js';
import { agentHealthCodec } from './agent-health.js';
import { loadSchema } from './record.js';

// Agents that predate the cost fields keep reporting while a fleet upgrades:
// their records must still decode, with the new fields empty, never dead-lettered.

describe('agent-health schema evolution', () => {
  it('a v0 report (no cost or transport fields) decodes with node_group/profile/cost null, no BPF programs and zero counters', () => {
    const v0 = avro.Type.forSchema(loadSchema('history/agent-health.v0.avsc') as avro.Schema);
    const old = {
      event_id: 'h', host: 'web-1', ts_us: 2, agent_version: '0.0.9', started_us: 1, interval_s: 30, records_total: 7, records_produced: 7,
      ringbuf_drops: 0, ringbuf_drops_per_cpu: [0], sampled_out: 0, filtered: 0, spool_records: 0, spool_bytes: 0, spool_dropped: 0, kafka_errors: 0, kafka_connected: true,
    };
    const buf = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintOf(v0), v0.toBuffer(old)]);
    expect(agentHealthCodec().decode(buf)).toEqual({
      ...old, node_group: null, profile: null, cpu_pct: null, rss_bytes: null, events_per_s: null, bpf_programs: [],
      // Loss and transport counters added since v0 read as zero.
      untracked_map_full: 0, untracked_nomem: 0, untracked_other: 0, stale_replaced: 0, ring_unread_at_stop: 0,
      records_dead_lettered: 0, wire_bytes: 0, wire_bytes_per_record: 0,
    });
  });

  it('a v1 report (before ring_unread_at_stop) decodes with the counter at 0, and the current schema carries it', () => {
    const v1 = avro.Type.forSchema(loadSchema('history/agent-health.v1.avsc') as avro.Schema);
    const rec = {
      event_id: 'h', host: 'web-1', ts_us: 2, agent_version: '0.1.0', started_us: 1, interval_s: 30, records_total: 7, records_produced: 7,
      ringbuf_drops: 0, ringbuf_drops_per_cpu: [0], sampled_out: 0, filtered: 0, untracked_map_full: 1, untracked_nomem: 0, untracked_other: 0, stale_replaced: 0,
      spool_records: 0, spool_bytes: 0, spool_dropped: 0, kafka_errors: 0, kafka_connected: true, records_dead_lettered: 0, wire_bytes: 10, wire_bytes_per_record: 1.4,
      node_group: null, profile: null, cpu_pct: null, rss_bytes: null, events_per_s: null, bpf_programs: [],
    };
    const buf = Buffer.concat([Buffer.from([0xc3, 0x01]), fingerprintOf(v1), v1.toBuffer(rec)]);
    expect(agentHealthCodec().decode(buf)).toEqual({ ...rec, ring_unread_at_stop: 0 });
    const now = agentHealthCodec().decode(agentHealthCodec().encode({ ...rec, ring_unread_at_stop: 14_794 }));
    expect(now).toMatchObject({ ring_unread_at_stop: 14_794 });
  });
});
