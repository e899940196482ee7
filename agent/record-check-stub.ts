import type { ConnectionRecord } from '../lib/record.js';

// Stand-in with the same name and shape as lib/record-check.ts's checkRecord
// (the one range check of a connection record), until that module is merged;
// replay then imports checkRecord from there and this file goes.

export interface RecordProblem { field: string; ecs: string; message: string }

const COUNTERS: Array<[keyof ConnectionRecord, string]> = [
  ['src_bytes', 'source.bytes'], ['dst_bytes', 'destination.bytes'], ['retransmits', 'connaudit.retransmits'],
  ['syn_retransmits', 'connaudit.syn_retransmits'], ['connect_latency_us', 'connaudit.connect_latency_ms'], ['srtt_us', 'connaudit.srtt_ms'],
];

export function checkRecord(r: ConnectionRecord): RecordProblem[] {
  const out: RecordProblem[] = [];
  for (const [field, ecs] of COUNTERS) {
    const v = r[field];
    if (typeof v === 'number' && v < 0) out.push({ field, ecs, message: `must be at least 0, got ${v}` });
  }
  for (const [field, ecs] of [['src_port', 'source.port'], ['dst_port', 'destination.port']] as const) {
    if (r[field] < 0 || r[field] > 65535) out.push({ field, ecs, message: `must be at most 65535, got ${r[field]}` });
  }
  if (r.end_us < r.start_us) out.push({ field: 'end_us', ecs: 'event.end', message: `is before the start (${r.end_us} < ${r.start_us} µs)` });
  return out;
}
