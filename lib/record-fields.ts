// The connection record, field by field, from the Avro record onward. This one
// table drives the TypeScript record type, the ECS document (lib/ecs.ts
// recordToDoc / docToRecord and the pipeline's straight decode in
// lib/record-decode.ts), the range checks at the edge (lib/record-check.ts)
// and the Elasticsearch mappings of the record's fields
// (pipeline/es-templates.ts merges recordMappings() into the component
// templates). schemas/avro/connection.avsc stays the wire contract: a test
// compares it with this table name by name, type by type, in order.
//
// Adding a field: put it in connection.avsc (with a default) and here. Nothing
// else in the user-space path needs to change.

export const RECORD_KINDS = ['final', 'interim', 'dns'] as const;
export const TRANSPORTS = ['tcp', 'udp'] as const;
export const DIRECTIONS = ['egress', 'ingress'] as const;
export const FAMILIES = ['ipv4', 'ipv6'] as const;
export const CONN_STATES = ['S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH'] as const;
export const CLOSE_REASONS = ['fin', 'refused', 'syn_timeout', 'rst_sent', 'rst_received', 'aborted', 'open', 'unknown', 'idle', 'released', 'answered', 'timeout'] as const;

/** The ECS version whose field definitions the documents follow (written as ecs.version). */
export const ECS_VERSION = '8.17.0';

/**
 * The Avro type of a field. timestamp_us is a long with logicalType
 * timestamp-micros; bytes_array an array of bytes (addresses); record_array an
 * array of a record whose fields `items` lists.
 */
export type AvroKind = 'string' | 'int' | 'long' | 'boolean' | 'bytes' | 'timestamp_us' | 'enum' | 'string_map' | 'bytes_array' | 'record_array';

/** One field of the record inside a record_array (string or long only: all the arrays need). */
export interface ItemSpec {
  readonly name: string;
  readonly type: 'string' | 'long';
  readonly es: EsType;
  /** Free text from the wire: escaped like a display field (see FieldSpec.display). */
  readonly display?: boolean;
  readonly min?: number;
  readonly max?: number;
  readonly maxBytes?: number;
}

/**
 * How the Avro value becomes the document value:
 * copy as is; ip: 4/16 bytes -> text; iso: micros -> ISO-8601 with microseconds;
 * ms: micros -> milliseconds; text: integer -> decimal string (ECS ids are keywords).
 * On a bytes_array, ip converts each element. Empty arrays are left out of the document.
 */
export type DocConversion = 'copy' | 'ip' | 'iso' | 'ms' | 'text';

/** Elasticsearch field types the record uses. */
export type EsType = 'keyword' | 'long' | 'float' | 'date' | 'ip' | 'boolean' | 'object';

export interface FieldSpec {
  /** Avro field name (the C names, snake_case). */
  readonly name: string;
  readonly type: AvroKind;
  readonly symbols?: readonly string[];
  /** ["null", T] in Avro; null values are left out of the document. */
  readonly nullable?: boolean;
  /** The Avro field default (what a record from an older agent gets). */
  readonly default?: unknown;
  /** The fields of each element of a record_array, in Avro order. */
  readonly items?: readonly ItemSpec[];
  /** Dotted path of the document field this one fills. */
  readonly ecs: string;
  readonly es: EsType;
  readonly conv?: DocConversion;
  /** Also indexed as match_only_text under `<field>.text`, as ECS defines it. */
  readonly text?: boolean;
  /**
   * Free text from the observed host, shown to analysts: control and bidi
   * characters are escaped in the document and the original kept under
   * connaudit.raw.<ecs path> (see lib/sanitize.ts).
   */
  readonly display?: boolean;
  /** Inclusive range of a numeric field; checked once, at the edge (lib/record-check.ts). */
  readonly min?: number;
  readonly max?: number;
  /** Longest accepted UTF-8 length of a string field. */
  readonly maxBytes?: number;
  /** A value equal to this is left out of the document (and read back from its absence). */
  readonly omitWhen?: unknown;
}

const U32 = 0xffff_ffff;
// A DNS name is at most 255 bytes on the wire (RFC 1035 3.1); the agent writes
// names as text no longer than that.
const DNS_NAME = { maxBytes: 255 } as const;
const PORT = { min: 0, max: 65535 } as const;
const COUNT = { min: 0, max: 0x7fff_ffff } as const;
const NONNEG = { min: 0, max: Number.MAX_SAFE_INTEGER } as const;
// Elasticsearch refuses an _id longer than 512 bytes for the whole bulk request.
const ID = { maxBytes: 512 } as const;

/** In connection.avsc order. */
export const RECORD_FIELDS = [
  { name: 'event_id', type: 'string', ecs: 'event.id', es: 'keyword', ...ID },
  { name: 'conn_uid', type: 'string', ecs: 'connaudit.conn_uid', es: 'keyword', ...ID },
  { name: 'kind', type: 'enum', symbols: RECORD_KINDS, ecs: 'connaudit.record_kind', es: 'keyword' },
  { name: 'start_us', type: 'timestamp_us', ecs: 'event.start', es: 'date', conv: 'iso', ...NONNEG },
  { name: 'end_us', type: 'timestamp_us', ecs: 'event.end', es: 'date', conv: 'iso', ...NONNEG },
  { name: 'host', type: 'string', ecs: 'host.name', es: 'keyword', display: true },
  { name: 'netns', type: 'long', default: 0, ecs: 'connaudit.netns', es: 'long', min: 0, max: U32 },
  { name: 'direction', type: 'enum', symbols: DIRECTIONS, ecs: 'network.direction', es: 'keyword' },
  { name: 'family', type: 'enum', symbols: FAMILIES, ecs: 'network.type', es: 'keyword' },
  { name: 'src_ip', type: 'bytes', ecs: 'source.ip', es: 'ip', conv: 'ip' },
  { name: 'src_port', type: 'int', ecs: 'source.port', es: 'long', ...PORT },
  { name: 'dst_ip', type: 'bytes', ecs: 'destination.ip', es: 'ip', conv: 'ip' },
  { name: 'dst_port', type: 'int', ecs: 'destination.port', es: 'long', ...PORT },
  { name: 'conn_state', type: 'enum', symbols: CONN_STATES, ecs: 'connaudit.conn_state', es: 'keyword' },
  { name: 'close_reason', type: 'enum', symbols: CLOSE_REASONS, default: 'unknown', ecs: 'connaudit.close_reason', es: 'keyword' },
  { name: 'connect_latency_us', type: 'long', nullable: true, default: null, ecs: 'connaudit.connect_latency_ms', es: 'float', conv: 'ms', ...NONNEG },
  { name: 'srtt_us', type: 'long', nullable: true, default: null, ecs: 'connaudit.srtt_ms', es: 'float', conv: 'ms', ...NONNEG },
  { name: 'retransmits', type: 'int', default: 0, ecs: 'connaudit.retransmits', es: 'long', ...COUNT },
  { name: 'syn_retransmits', type: 'int', default: 0, ecs: 'connaudit.syn_retransmits', es: 'long', ...COUNT },
  { name: 'rst_sent', type: 'int', default: 0, ecs: 'connaudit.rst_sent', es: 'long', ...COUNT },
  { name: 'rst_received', type: 'int', default: 0, ecs: 'connaudit.rst_received', es: 'long', ...COUNT },
  { name: 'src_bytes', type: 'long', nullable: true, default: null, ecs: 'source.bytes', es: 'long', ...NONNEG },
  { name: 'dst_bytes', type: 'long', nullable: true, default: null, ecs: 'destination.bytes', es: 'long', ...NONNEG },
  { name: 'pid', type: 'int', nullable: true, default: null, ecs: 'process.pid', es: 'long', ...COUNT },
  { name: 'tid', type: 'int', nullable: true, default: null, ecs: 'process.thread.id', es: 'long', ...COUNT },
  { name: 'ppid', type: 'int', nullable: true, default: null, ecs: 'process.parent.pid', es: 'long', ...COUNT },
  { name: 'uid', type: 'int', nullable: true, default: null, ecs: 'user.id', es: 'keyword', conv: 'text', ...COUNT },
  { name: 'comm', type: 'string', nullable: true, default: null, ecs: 'process.name', es: 'keyword', text: true, display: true },
  { name: 'executable', type: 'string', nullable: true, default: null, ecs: 'process.executable', es: 'keyword', text: true, display: true },
  { name: 'parent_name', type: 'string', nullable: true, default: null, ecs: 'process.parent.name', es: 'keyword', text: true, display: true },
  { name: 'cgroup_id', type: 'long', nullable: true, default: null, ecs: 'connaudit.cgroup_id', es: 'long', ...NONNEG },
  { name: 'container_id', type: 'string', nullable: true, default: null, ecs: 'container.id', es: 'keyword', display: true },
  { name: 'environment', type: 'string', nullable: true, default: null, ecs: 'service.environment', es: 'keyword' },
  { name: 'node_group', type: 'string', nullable: true, default: null, ecs: 'connaudit.node_group', es: 'keyword' },
  { name: 'labels', type: 'string_map', default: {}, ecs: 'labels', es: 'object' },
  { name: 'agent_version', type: 'string', default: '', ecs: 'connaudit.agent_version', es: 'keyword', omitWhen: '' },
  { name: 'sampled', type: 'boolean', default: false, ecs: 'connaudit.sampled', es: 'boolean' },
  { name: 'started_before_agent', type: 'boolean', default: false, ecs: 'connaudit.started_before_agent', es: 'boolean' },
  { name: 'process_unknown_reason', type: 'string', nullable: true, default: null, ecs: 'connaudit.process_unknown_reason', es: 'keyword' },
  // UDP flows and DNS (schema 3): every field has a default, so TCP-only agents' records resolve.
  { name: 'transport', type: 'enum', symbols: TRANSPORTS, default: 'tcp', ecs: 'network.transport', es: 'keyword' },
  { name: 'src_packets', type: 'long', nullable: true, default: null, ecs: 'source.packets', es: 'long', ...NONNEG },
  { name: 'dst_packets', type: 'long', nullable: true, default: null, ecs: 'destination.packets', es: 'long', ...NONNEG },
  { name: 'dst_domain', type: 'string', nullable: true, default: null, ecs: 'destination.domain', es: 'keyword', display: true, ...DNS_NAME },
  { name: 'dst_registered_domain', type: 'string', nullable: true, default: null, ecs: 'destination.registered_domain', es: 'keyword', display: true, ...DNS_NAME },
  { name: 'dns_id', type: 'int', nullable: true, default: null, ecs: 'dns.id', es: 'keyword', conv: 'text', ...PORT },
  { name: 'dns_qname', type: 'string', nullable: true, default: null, ecs: 'dns.question.name', es: 'keyword', display: true, ...DNS_NAME },
  { name: 'dns_qtype', type: 'string', nullable: true, default: null, ecs: 'dns.question.type', es: 'keyword', maxBytes: 16 },
  { name: 'dns_registered_domain', type: 'string', nullable: true, default: null, ecs: 'dns.question.registered_domain', es: 'keyword', display: true, ...DNS_NAME },
  { name: 'dns_rcode', type: 'string', nullable: true, default: null, ecs: 'dns.response_code', es: 'keyword', maxBytes: 16 },
  { name: 'dns_resolved_ips', type: 'bytes_array', default: [], ecs: 'dns.resolved_ip', es: 'ip', conv: 'ip' },
  {
    name: 'dns_answers', type: 'record_array', default: [], ecs: 'dns.answers', es: 'object', display: true,
    items: [
      { name: 'name', type: 'string', es: 'keyword', display: true, ...DNS_NAME },
      { name: 'type', type: 'string', es: 'keyword', maxBytes: 16 },
      { name: 'ttl', type: 'long', es: 'long', min: 0, max: U32 },
      { name: 'data', type: 'string', es: 'keyword', display: true, ...DNS_NAME },
    ],
  },
] as const satisfies readonly FieldSpec[];

export type RecordFieldName = (typeof RECORD_FIELDS)[number]['name'];

type BaseTs<F> = F extends { type: 'enum'; symbols: readonly (infer S)[] }
  ? S
  : F extends { type: 'string' }
    ? string
    : F extends { type: 'int' | 'long' | 'timestamp_us' }
      ? number
      : F extends { type: 'boolean' }
        ? boolean
        : F extends { type: 'bytes' }
          ? Buffer
          : F extends { type: 'string_map' }
            ? Record<string, string>
            : F extends { type: 'bytes_array' }
              ? Buffer[]
              : F extends { type: 'record_array'; items: readonly ItemSpec[] }
                ? Array<ItemTs<F['items']>>
                : never;
type ItemTs<I extends readonly ItemSpec[]> = { -readonly [E in I[number] as E['name']]: E extends { type: 'long' } ? number : string };
type FieldTs<F> = F extends { nullable: true } ? BaseTs<F> | null : BaseTs<F>;

/** The TypeScript shape of a record described by a field table. */
export type RecordOf<T extends readonly FieldSpec[]> = { -readonly [F in T[number] as F['name']]: FieldTs<F> };

type Table = (typeof RECORD_FIELDS)[number];

/** The fields that have an Avro default, with their types. */
export type RecordDefaults = { -readonly [F in Table as F extends { default: unknown } ? F['name'] : never]: FieldTs<F> };

/**
 * A fresh object with every defaulted field at its Avro default. Code that
 * builds records by hand (tests, generators, benches) spreads it first, so a
 * new field with a default does not have to be added to each of them.
 */
export function recordDefaults(): RecordDefaults {
  const out: Record<string, unknown> = {};
  for (const f of RECORD_FIELDS as readonly FieldSpec[]) if (f.default !== undefined) out[f.name] = structuredClone(f.default);
  return out as RecordDefaults;
}

/**
 * Document fields the mapping derives from several record fields (or
 * constants) rather than copying one. Their mappings are generated with the
 * record's, so a derived field cannot be written without being mapped.
 */
export const DERIVED_FIELDS: ReadonlyArray<{ readonly ecs: string; readonly es: EsType }> = [
  { ecs: '@timestamp', es: 'date' },
  { ecs: 'event.kind', es: 'keyword' },
  { ecs: 'event.category', es: 'keyword' },
  { ecs: 'event.type', es: 'keyword' },
  { ecs: 'event.action', es: 'keyword' },
  { ecs: 'event.outcome', es: 'keyword' },
  { ecs: 'event.duration', es: 'long' },
  { ecs: 'event.dataset', es: 'keyword' },
  { ecs: 'event.module', es: 'keyword' },
  { ecs: 'ecs.version', es: 'keyword' },
  { ecs: 'host.ip', es: 'ip' },
  { ecs: 'network.protocol', es: 'keyword' },
  { ecs: 'network.iana_number', es: 'keyword' },
  { ecs: 'network.community_id', es: 'keyword' },
  { ecs: 'related.ip', es: 'ip' },
  { ecs: 'related.hosts', es: 'keyword' },
  { ecs: 'related.user', es: 'keyword' },
  { ecs: 'connaudit.sanitized', es: 'boolean' },
];

/** Where the original of a sanitized display field is kept. */
export const rawPath = (ecs: string): string => `connaudit.raw.${ecs}`;

export function fieldSpec(name: string): FieldSpec | undefined {
  return (RECORD_FIELDS as readonly FieldSpec[]).find((f) => f.name === name);
}
