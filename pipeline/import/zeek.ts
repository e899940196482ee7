import { cidrMatcher } from '../../lib/cidr.js';
import { DEFAULT_INTERNAL_CIDRS } from '../enrich/enrich.js';
import { checkIp, checkPort, connState, ImportReject, type ImportedConn } from './conn.js';

// Zeek conn.log -> connaudit connections. Both of Zeek's log writers are read:
// the ASCII writer (TSV, with `#fields` naming the columns, `-` for unset and
// `(empty)` for empty values) and the JSON writer (one object per line with
// the same dotted names, `ts` as epoch seconds or ISO 8601).
//
// Zeek watches the network, not a host. A connaudit record belongs to a host,
// so each connection is written for the host that opened it (egress) or, when
// it came from outside (local_orig false, local_resp true), for the host that
// accepted it (ingress); host.name is that host's address unless --host names
// the sensor's host. Without local_orig/local_resp the internal ranges decide.
// Zeek's conn_state, duration, bytes and community_id are kept as they are.

export type ZeekRecord = Record<string, unknown>;

export interface ZeekOptions {
  /** write every record for this host.name instead of the address */
  host?: string;
}

/** Reads Zeek conn.log lines one by one, in either writer's format. */
export class ZeekReader {
  private fields: string[] | null = null;
  private sep = '\t';
  private unset = '-';
  private empty = '(empty)';
  private json: boolean | null = null;
  private path = 'conn';

  /** The record on this line, null for a header or blank line. Throws ImportReject for a line that cannot be read. */
  parse(line: string): ZeekRecord | null {
    if (line.trim() === '') return null;
    if (this.json === null) this.json = line.trimStart().startsWith('{');
    if (this.json) {
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch (err) {
        throw new ImportReject('(json)', `not JSON: ${(err as Error).message}`, 'not JSON');
      }
      if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new ImportReject('(json)', 'each line must be one JSON object', 'not JSON');
      return o as ZeekRecord;
    }
    if (line.startsWith('#')) {
      this.header(line);
      return null;
    }
    if (!this.fields) throw new ImportReject('#fields', 'no #fields header before the first record: not a Zeek TSV log (or its header was cut off)', 'no #fields header');
    if (this.path !== 'conn') throw new ImportReject('#path', `the log is ${this.path}.log, not conn.log`, 'not conn.log');
    const cols = line.split(this.sep);
    if (cols.length !== this.fields.length) throw new ImportReject('(columns)', `${cols.length} columns, but #fields names ${this.fields.length}`, 'wrong column count');
    const rec: ZeekRecord = {};
    this.fields.forEach((f, i) => {
      const v = cols[i]!;
      if (v !== this.unset) rec[f] = v === this.empty ? '' : v;
    });
    return rec;
  }

  private header(line: string): void {
    const [key, ...rest] = line.split(line.startsWith('#separator') ? ' ' : this.sep);
    const value = rest.join(line.startsWith('#separator') ? ' ' : this.sep);
    switch (key) {
      case '#separator':
        this.sep = value.replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
        break;
      case '#unset_field': this.unset = value; break;
      case '#empty_field': this.empty = value; break;
      case '#path': this.path = value; break;
      case '#fields': this.fields = rest; break;
      default: break;
    }
  }
}

const isInternal = cidrMatcher(DEFAULT_INTERNAL_CIDRS);

function bool(v: unknown): boolean | null {
  if (v === true || v === 'T' || v === 'true') return true;
  if (v === false || v === 'F' || v === 'false') return false;
  return null;
}

function num(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ImportReject(field, `${JSON.stringify(v)} is not a non-negative number`, `${field} invalid`);
  return n;
}

function startMicros(v: unknown): number {
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v))) {
    const [s, frac = ''] = String(v).split('.');
    return Number(s) * 1_000_000 + Number(frac.padEnd(6, '0').slice(0, 6));
  }
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) {
    const ms = Date.parse(v);
    const frac = /\.(\d+)/.exec(v)?.[1] ?? '';
    return ms * 1000 + Number(frac.padEnd(6, '0').slice(3, 6));
  }
  throw new ImportReject('ts', v === undefined ? 'is missing' : `${JSON.stringify(v)} is neither epoch seconds nor an ISO 8601 time`, 'ts invalid');
}

/** One conn.log record -> one connection, or ImportReject with the field and why. */
export function zeekToConn(r: ZeekRecord, opts: ZeekOptions = {}): ImportedConn {
  const proto = r.proto;
  if (proto !== 'tcp') throw new ImportReject('proto', `${JSON.stringify(proto)} is not TCP: connaudit records TCP connections only`, `not TCP (${String(proto ?? 'missing')})`, proto !== undefined);
  const startUs = startMicros(r.ts);
  const orig = checkIp(r['id.orig_h'], 'id.orig_h');
  const resp = checkIp(r['id.resp_h'], 'id.resp_h');
  const origPort = checkPort(r['id.orig_p'], 'id.orig_p');
  const respPort = checkPort(r['id.resp_p'], 'id.resp_p');
  const state = connState(r.conn_state, 'conn_state');
  const dur = num(r.duration, 'duration');
  const localOrig = bool(r.local_orig);
  const localResp = bool(r.local_resp);
  const inbound = localOrig === null ? !isInternal(orig) && isInternal(resp) : localOrig === false && localResp === true;
  const history = typeof r.history === 'string' ? r.history : '';
  const count = (re: RegExp): number => (history.match(re) ?? []).length;
  // history letters: upper case for the originator, lower case for the responder;
  // T/t = a retransmission (Zeek logs each kind at 1, 10, 100... so this is a lower bound), R/r = a reset
  const origRst = count(/R/g);
  const respRst = count(/r/g);
  const labels: Record<string, string> = { import_source: 'zeek' };
  if (typeof r.uid === 'string') labels.zeek_uid = r.uid;
  if (typeof r.service === 'string' && r.service) labels.zeek_service = r.service;
  return {
    startUs,
    durationUs: dur === undefined ? null : Math.round(dur * 1_000_000),
    host: opts.host ?? (inbound ? resp : orig),
    direction: inbound ? 'ingress' : 'egress',
    srcIp: orig,
    srcPort: origPort,
    dstIp: resp,
    dstPort: respPort,
    connState: state,
    kind: 'final',
    communityId: typeof r.community_id === 'string' && r.community_id ? r.community_id : undefined,
    srcBytes: num(r.orig_bytes, 'orig_bytes'),
    dstBytes: num(r.resp_bytes, 'resp_bytes'),
    retransmits: count(/[Tt]/g),
    rstSent: inbound ? respRst : origRst,
    rstReceived: inbound ? origRst : respRst,
    labels,
  };
}
