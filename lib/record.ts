import { readFileSync } from 'node:fs';
import avro from 'avsc';
import { fromRoot } from './paths.js';

// The wire record. schemas/avro/connection.avsc is the only definition;
// ConnectionRecord below mirrors it for the compiler, and record.test.ts fails
// if the two drift apart (a field added to one and not the other).

export type RecordKind = 'final' | 'interim';
export type Direction = 'egress' | 'ingress';
export type Family = 'ipv4' | 'ipv6';
export const CONN_STATES = ['S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH'] as const;
export type ConnState = (typeof CONN_STATES)[number];
export const CLOSE_REASONS = ['fin', 'refused', 'syn_timeout', 'rst_sent', 'rst_received', 'aborted', 'open', 'unknown'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export interface ConnectionRecord {
  event_id: string;
  conn_uid: string;
  kind: RecordKind;
  /** timestamp-micros: avsc hands these over as plain numbers (microseconds). */
  start_us: number;
  end_us: number;
  host: string;
  netns: number;
  direction: Direction;
  family: Family;
  src_ip: Buffer;
  src_port: number;
  dst_ip: Buffer;
  dst_port: number;
  conn_state: ConnState;
  close_reason: CloseReason;
  connect_latency_us: number | null;
  srtt_us: number | null;
  retransmits: number;
  syn_retransmits: number;
  rst_sent: number;
  rst_received: number;
  src_bytes: number | null;
  dst_bytes: number | null;
  pid: number | null;
  tid: number | null;
  ppid: number | null;
  uid: number | null;
  comm: string | null;
  executable: string | null;
  parent_name: string | null;
  cgroup_id: number | null;
  container_id: string | null;
  environment: string | null;
  node_group: string | null;
  labels: Record<string, string>;
  agent_version: string;
  /** Avro defaults (false, false, null) apply when a writer leaves these out. */
  sampled?: boolean;
  started_before_agent?: boolean;
  process_unknown_reason?: string | null;
}


/** Resolves a path under schemas/avro whether we run from source (vitest) or from dist/. */
export function schemaPath(name: string): string {
  return fromRoot('schemas/avro', name);
}

export function loadSchema(name = 'connection.avsc'): object {
  return JSON.parse(readFileSync(schemaPath(name), 'utf8')) as object;
}

/** The current writer/reader type of the connection record. */
export const connectionType: avro.Type = avro.Type.forSchema(loadSchema() as avro.Schema);
