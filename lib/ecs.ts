import { communityIdFromBytes } from './community-id.js';
import { microsFromIso } from './iso-micros.js';
import { ipToBytes } from './ip.js';
import type { ConnectionRecord } from './record.js';
import { fillFromRecord } from './record-doc-gen.js';
import { ECS_VERSION, RECORD_FIELDS, rawPath, type FieldSpec } from './record-fields.js';

// The nested ECS document for one connection record. The agent prints it
// (`agent --output jsonl`), `agent --replay` reads it back, the rule engine and
// the SLO annotator read it, and the pipeline indexes it. Which record field
// fills which document field is lib/record-fields.ts; this module applies that
// table and adds the fields derived from several record fields.

type Table = (typeof RECORD_FIELDS)[number];

/** The document type of one table field (after its conversion). */
type DocValueOf<F> = F extends { conv: 'ms' } ? number : F extends { conv: 'iso' | 'ip' | 'text' } ? string : Exclude<ConnectionRecord[F extends { name: infer N extends keyof ConnectionRecord } ? N : never], null>;
type OptionalDocField<F> = F extends { nullable: true } ? true : F extends { omitWhen: unknown } ? true : false;

/** connaudit.<name> fields straight from the table: a new record field appears here by itself. */
type ConnauditRecordFields = {
  [F in Table as F['ecs'] extends `connaudit.${infer K}` ? (OptionalDocField<F> extends true ? never : K) : never]: DocValueOf<F>;
} & {
  [F in Table as F['ecs'] extends `connaudit.${infer K}` ? (OptionalDocField<F> extends true ? K : never) : never]?: DocValueOf<F>;
};

export interface ConnectionDoc {
  '@timestamp': string;
  event: {
    id: string;
    kind: 'event';
    category: ['network'];
    type: string[];
    action: 'connection-closed' | 'connection-interim' | 'dns-query';
    outcome: 'success' | 'failure' | 'unknown';
    start: string;
    end: string;
    /** nanoseconds, as ECS wants. */
    duration: number;
    dataset: 'connaudit.connections';
    module: 'connaudit';
    ingested?: string;
  };
  ecs: { version: string };
  /** host.ip is the connection's local address (the host's address in that network namespace). */
  host: { name: string; ip?: string[] };
  process?: {
    pid?: number;
    name?: string;
    executable?: string;
    thread?: { id: number };
    parent?: { pid?: number; name?: string };
  };
  user?: { id: string };
  container?: { id: string };
  source: { ip: string; port: number; bytes?: number; packets?: number };
  /** domain / registered_domain: the name the process resolved to this address (the agent's DNS cache), when known. */
  destination: { ip: string; port: number; bytes?: number; packets?: number; domain?: string; registered_domain?: string };
  network: {
    transport: 'tcp' | 'udp';
    iana_number: '6' | '17';
    type: 'ipv4' | 'ipv6';
    direction: 'egress' | 'ingress';
    community_id: string;
    /** 'dns' on DNS records (connaudit.record_kind dns). */
    protocol?: 'dns';
  };
  /** DNS records only: the query and its answer. */
  dns?: {
    id?: string;
    question?: { name?: string; type?: string; registered_domain?: string };
    response_code?: string;
    resolved_ip?: string[];
    answers?: Array<{ name: string; type: string; ttl: number; data: string }>;
  };
  /** ECS pivot fields: every address, host name and user the document names. */
  related: { ip: string[]; hosts: string[]; user?: string[] };
  service?: { name?: string; environment?: string };
  labels?: Record<string, string>;
  connaudit: ConnauditRecordFields & {
    /** true when a display field had control or bidi characters escaped; the originals are under raw. */
    sanitized?: true;
    /** Originals of the escaped display fields, at their ECS paths (raw.process.name, ...). */
    raw?: Record<string, unknown>;
    /** Filled by the pipeline's enrichment (pipeline/enrich). */
    service_owner?: string;
    source_zone?: string;
    destination_zone?: string;
    destination_service?: string;
    /** true when the destination is outside every internal CIDR the pipeline knows. */
    destination_external?: boolean;
  };
  /** SLO annotation, filled by the pipeline (pipeline/slo). */
  slo?: Record<string, unknown>;
}

type Json = Record<string, unknown>;

/** A fresh document with the objects every connection has, in a stable key order. */
export function newDoc(): ConnectionDoc {
  return {
    '@timestamp': '',
    event: { id: '', kind: 'event', category: ['network'], type: [], action: 'connection-closed', outcome: 'unknown', start: '', end: '', duration: 0, dataset: 'connaudit.connections', module: 'connaudit' },
    ecs: { version: ECS_VERSION },
    host: { name: '' },
    source: { ip: '', port: 0 },
    destination: { ip: '', port: 0 },
    network: { transport: 'tcp', iana_number: '6', type: 'ipv4', direction: 'egress', community_id: '' },
    related: { ip: [], hosts: [] },
    connaudit: {} as ConnectionDoc['connaudit'],
  };
}

const GOOD_STATES: ReadonlySet<string> = new Set(['SF', 'S1']);
const IANA = { tcp: '6', udp: '17' } as const;

/**
 * event.outcome. A DNS transaction succeeded when it was answered with
 * NOERROR (NXDOMAIN, SERVFAIL, REFUSED and no answer at all are failures). A
 * UDP flow with no packet back (S0) is not a failure in itself: syslog, statsd
 * and NTP broadcasts never get one, so its outcome is unknown.
 */
function outcome(doc: ConnectionDoc): ConnectionDoc['event']['outcome'] {
  const c = doc.connaudit;
  if (c.record_kind === 'dns') return doc.dns?.response_code === 'NOERROR' ? 'success' : 'failure';
  if (GOOD_STATES.has(c.conn_state)) return 'success';
  return doc.network.transport === 'udp' && c.conn_state === 'S0' ? 'unknown' : 'failure';
}

/**
 * The fields derived from several record fields, once every table field is in.
 * Times and addresses come in as the record has them (micros, bytes), so
 * nothing is parsed back from the text just written.
 */
export function finishDoc(doc: ConnectionDoc, startUs: number, endUs: number, srcIp: Buffer, dstIp: Buffer): ConnectionDoc {
  const ev = doc.event;
  const kind = doc.connaudit.record_kind;
  doc['@timestamp'] = ev.end;
  if (kind === 'dns') {
    ev.type = ['protocol'];
    ev.action = 'dns-query';
    doc.network.protocol = 'dns';
  } else {
    ev.type = kind === 'final' ? ['connection', 'end'] : ['connection', 'info'];
    ev.action = kind === 'final' ? 'connection-closed' : 'connection-interim';
  }
  ev.outcome = outcome(doc);
  ev.duration = Math.max(0, endUs - startUs) * 1000;
  const src = doc.source;
  const dst = doc.destination;
  const net = doc.network;
  net.iana_number = IANA[net.transport];
  net.community_id = communityIdFromBytes(net.transport === 'udp' ? 17 : 6, srcIp, dstIp, src.port, dst.port);
  // The local end of the socket is this host's address (egress: we are the source).
  doc.host.ip = [doc.network.direction === 'egress' ? src.ip : dst.ip];
  doc.related.ip = src.ip === dst.ip ? [src.ip] : [src.ip, dst.ip];
  doc.related.hosts = [doc.host.name];
  if (doc.user) doc.related.user = [doc.user.id];
  return doc;
}

/** Record -> ECS document, by the field table (the fill code is generated from it: lib/record-doc-gen.ts). */
export function recordToDoc(r: ConnectionRecord): ConnectionDoc {
  return fillFromRecord(r, newDoc(), finishDoc) as ConnectionDoc;
}

/** Where a field is missing or has the wrong type, the message names it. */
export class DocError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'DocError';
  }
}

function get(doc: Json, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Json)[part];
  }
  return cur;
}

const JS_KIND: Record<FieldSpec['type'], string> = {
  string: 'string', enum: 'string', int: 'number', long: 'number', boolean: 'boolean', bytes: 'string', timestamp_us: 'string', string_map: 'object',
  bytes_array: 'array', record_array: 'array',
};

/** An array field back from its document form: addresses from text, records item by item. */
function readArray(spec: FieldSpec, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new DocError(spec.ecs, `must be an array, got ${JSON.stringify(v)}`);
  return v.map((x, i) => {
    if (spec.type === 'bytes_array') {
      if (typeof x !== 'string') throw new DocError(`${spec.ecs}[${i}]`, `must be a string, got ${JSON.stringify(x)}`);
      try {
        return ipToBytes(x);
      } catch (err) {
        throw new DocError(`${spec.ecs}[${i}]`, (err as Error).message);
      }
    }
    if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new DocError(`${spec.ecs}[${i}]`, `must be an object, got ${JSON.stringify(x)}`);
    const out: Record<string, unknown> = {};
    for (const it of spec.items ?? []) {
      const val = (x as Json)[it.name];
      const want = it.type === 'long' ? 'number' : 'string';
      if (typeof val !== want) throw new DocError(`${spec.ecs}[${i}].${it.name}`, `must be a ${want}, got ${JSON.stringify(val)}`);
      out[it.name] = val;
    }
    return out;
  });
}

/**
 * Values a document written before a record field existed stands for.
 * record_kind: documents from before interim records were all final;
 * family: follows from the address length.
 */
function fallback(spec: FieldSpec, d: Json, agentVersion: string, src: Buffer): unknown {
  if (spec.name === 'kind') return 'final';
  if (spec.name === 'family') return src.length === 4 ? 'ipv4' : 'ipv6';
  if (spec.name === 'agent_version') return agentVersion;
  if (spec.nullable) return null;
  if (spec.default !== undefined) return structuredClone(spec.default);
  throw new DocError(spec.ecs, 'is required');
}

function readField(spec: FieldSpec, d: Json, agentVersion: string, src: Buffer): unknown {
  let v = spec.display ? get(d, rawPath(spec.ecs)) ?? get(d, spec.ecs) : get(d, spec.ecs);
  if (v === undefined || v === null || (spec.omitWhen !== undefined && v === spec.omitWhen)) return fallback(spec, d, agentVersion, src);
  if (JS_KIND[spec.type] === 'array') return readArray(spec, v);
  const want = spec.conv === 'text' || spec.conv === 'iso' || spec.conv === 'ip' ? 'string' : spec.conv === 'ms' ? 'number' : JS_KIND[spec.type];
  if (want === 'object') {
    if (typeof v !== 'object' || Array.isArray(v)) throw new DocError(spec.ecs, `must be an object, got ${JSON.stringify(v)}`);
    return Object.fromEntries(Object.entries(v as Json).map(([k, x]) => [k, String(x)]));
  }
  if (typeof v !== want) throw new DocError(spec.ecs, `must be a ${want}, got ${JSON.stringify(v)}`);
  try {
    switch (spec.conv) {
      case 'ip': v = ipToBytes(v as string); break;
      case 'iso': v = microsFromIso(v as string); break;
      case 'ms': v = Math.round((v as number) * 1000); break;
      case 'text':
        if (!/^\d+$/.test(v as string)) throw new Error(`must be a decimal number, got ${JSON.stringify(v)}`);
        v = Number(v);
        break;
    }
  } catch (err) {
    throw new DocError(spec.ecs, (err as Error).message);
  }
  if (spec.symbols && !spec.symbols.includes(v as string)) throw new DocError(spec.ecs, `must be one of ${spec.symbols.join(', ')}, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * The inverse of recordToDoc, for `agent --replay` and backtests: reads a
 * nested ECS connection document back into a wire record, by the same table.
 * Escaped display fields are read from their originals (connaudit.raw.*).
 * Pipeline-added fields (service.name, slo.*, related.*) are not part of the
 * record and are dropped. Ranges are not checked here: lib/record-check.ts.
 */
export function docToRecord(input: unknown, agentVersion = ''): ConnectionRecord {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new DocError('(document)', 'must be a JSON object');
  const d = input as Json;
  const out: Record<string, unknown> = {};
  // Addresses first: family falls back to their length.
  const specs = RECORD_FIELDS as readonly FieldSpec[];
  const srcSpec = specs.find((s) => s.name === 'src_ip')!;
  const dstSpec = specs.find((s) => s.name === 'dst_ip')!;
  const src = readField(srcSpec, d, agentVersion, Buffer.alloc(0)) as Buffer;
  const dst = readField(dstSpec, d, agentVersion, src) as Buffer;
  if (src.length !== dst.length) throw new DocError('destination.ip', 'has a different address family from source.ip');
  for (const spec of specs) {
    const name = spec.name;
    out[name] = name === 'src_ip' ? src : name === 'dst_ip' ? dst : readField(spec, d, agentVersion, src);
  }
  return out as unknown as ConnectionRecord;
}
