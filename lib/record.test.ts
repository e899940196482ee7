import { describe, expect, it } from 'vitest';
import avro from 'avsc';
import { connectionType, loadSchema, type ConnectionRecord } from './record.js';
import { DecodeError, SingleObjectCodec, connectionCodec, decodeConnection, encodeConnection, fingerprintOf } from './avro.js';
import { docToRecord, recordToDoc } from './ecs.js';
import { ipToBytes } from './ip.js';
import { recordDefaults } from './record-fields.js';

export function sampleRecord(over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    ...recordDefaults(),
    event_id: 'e1', conn_uid: 'Cabc', kind: 'final',
    start_us: 1_763_770_000_000_123, end_us: 1_763_770_001_500_456,
    host: 'web-1', netns: 4026531840, direction: 'egress', family: 'ipv4',
    src_ip: ipToBytes('10.0.0.1'), src_port: 40000, dst_ip: ipToBytes('10.0.0.2'), dst_port: 443,
    conn_state: 'SF', close_reason: 'fin', connect_latency_us: 1234, srtt_us: 800,
    retransmits: 2, syn_retransmits: 0, rst_sent: 0, rst_received: 0, src_bytes: 100, dst_bytes: 2000,
    pid: 4242, tid: 4243, ppid: 1, uid: 1000, comm: 'curl', executable: '/usr/bin/curl', parent_name: 'bash',
    cgroup_id: 77, container_id: null, environment: 'prod', node_group: 'ng-a', labels: { team: 'payments' }, agent_version: '0.1.0', sampled: false, started_before_agent: false, process_unknown_reason: null,
    ...over,
  };
}

describe('connection schema', () => {
  it('has exactly the fields of ConnectionRecord', () => {
    const schemaFields = (loadSchema() as { fields: Array<{ name: string }> }).fields.map((f) => f.name).sort();
    expect(Object.keys(sampleRecord()).sort()).toEqual(schemaFields);
  });

  // Table of valid and invalid values, as avsc's own test_types.js does.
  it.each<[string, Partial<ConnectionRecord>]>([
    ['ipv6 addresses', { family: 'ipv6', src_ip: ipToBytes('fd00::1'), dst_ip: ipToBytes('fd00::2') }],
    ['a refused connection without latency or bytes', { conn_state: 'REJ', close_reason: 'refused', connect_latency_us: null, src_bytes: null, dst_bytes: null }],
    ['an interim record', { kind: 'interim', conn_state: 'S1', close_reason: 'open' }],
    ['no owner (pre-existing socket)', { pid: null, comm: null, executable: null }],
    ['a sampled connection', { sampled: true }],
    ['a socket that predates the agent, owner unknown', { started_before_agent: true, connect_latency_us: null, pid: null, comm: null, process_unknown_reason: 'owner exited before the agent started' }],
  ])('accepts %s', (_n, over) => {
    expect(connectionType.isValid(sampleRecord(over))).toBe(true);
  });

  it.each<[string, Record<string, unknown>]>([
    ['an unknown conn_state', { conn_state: 'XX' }],
    ['a string port', { dst_port: '443' }],
    ['a missing host', { host: undefined }],
    ['a float retransmit count', { retransmits: 1.5 }],
    ['an unknown direction', { direction: 'sideways' }],
    ['a string for sampled', { sampled: 'yes' }],
    ['a null started_before_agent', { started_before_agent: null }],
    ['a number as process_unknown_reason', { process_unknown_reason: 3 }],
  ])('rejects %s', (_n, over) => {
    const paths: string[] = [];
    const ok = connectionType.isValid({ ...sampleRecord(), ...over }, { errorHook: (p) => paths.push(p.join('.')) });
    expect(ok).toBe(false);
    expect(paths.length).toBeGreaterThan(0);
  });
});

describe('single-object encoding', () => {
  it('round-trips and starts with C3 01 + the Rabin fingerprint', () => {
    const rec = sampleRecord();
    const buf = encodeConnection(rec);
    expect(buf.subarray(0, 2)).toEqual(Buffer.from([0xc3, 0x01]));
    expect(buf.subarray(2, 10)).toEqual(fingerprintOf(connectionType));
    expect(decodeConnection(buf)).toEqual(rec);
  });

  it('names the reason for garbage', () => {
    expect(() => decodeConnection(Buffer.from('hello world, not avro'))).toThrow(DecodeError);
    try { decodeConnection(Buffer.from('hello world, not avro')); } catch (e) { expect((e as DecodeError).reason).toBe('bad_magic'); }
    const unknown = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8, 7), Buffer.from([0])]);
    expect(() => decodeConnection(unknown)).toThrow(/unknown writer schema fingerprint 0707070707070707/);
    const truncated = encodeConnection(sampleRecord()).subarray(0, 20);
    expect(() => decodeConnection(truncated)).toThrow(/does not decode/);
  });

  it('decodes records written by a v0 agent (createResolver)', () => {
    const v0 = avro.Type.forSchema(loadSchema('history/connection.v0.avsc') as avro.Schema);
    const oldWriter = new SingleObjectCodec(v0);
    const old = {
      event_id: 'e0', conn_uid: 'C0', kind: 'final', start_us: 1000, end_us: 2000, host: 'old-host', direction: 'ingress', family: 'ipv4',
      src_ip: ipToBytes('10.9.0.1'), src_port: 5555, dst_ip: ipToBytes('10.9.0.2'), dst_port: 22, conn_state: 'RSTR',
      connect_latency_us: 50, retransmits: 3, pid: 10, comm: 'sshd',
    };
    const decoded = connectionCodec().decode(oldWriter.encode(old)) as ConnectionRecord;
    expect(decoded.host).toBe('old-host');
    expect(decoded.conn_state).toBe('RSTR');
    expect(decoded.close_reason).toBe('unknown'); // reader default
    expect(decoded.src_bytes).toBeNull();
    expect(decoded.labels).toEqual({});
    expect(connectionCodec().knownFingerprints()).toContain(fingerprintOf(v0).toString('hex'));
  });
});

describe('records from v1 agents (before sampled, started_before_agent, process_unknown_reason)', () => {
  it('decode with the reader defaults (createResolver)', () => {
    const v1 = avro.Type.forSchema(loadSchema('history/connection.v1.avsc') as avro.Schema);
    const { sampled: _s, started_before_agent: _b, process_unknown_reason: _p, ...old } = sampleRecord({ event_id: 'v1' });
    const decoded = connectionCodec().decode(new SingleObjectCodec(v1).encode(old)) as ConnectionRecord;
    expect(decoded).toEqual(sampleRecord({ event_id: 'v1' }));
    expect(decoded.sampled).toBe(false);
    expect(decoded.started_before_agent).toBe(false);
    expect(decoded.process_unknown_reason).toBeNull();
    expect(connectionCodec().knownFingerprints()).toContain(fingerprintOf(v1).toString('hex'));
    expect(fingerprintOf(v1)).not.toEqual(fingerprintOf(connectionType));
  });
});

describe('ECS mapping', () => {
  it('maps a record to the nested ECS document', () => {
    const doc = recordToDoc(sampleRecord());
    expect(doc['@timestamp']).toBe('2025-11-22T00:06:41.500456Z');
    expect(doc.event.start).toBe('2025-11-22T00:06:40.000123Z');
    expect(doc.event.duration).toBe(1_500_333_000);
    expect(doc.source).toEqual({ ip: '10.0.0.1', port: 40000, bytes: 100 });
    expect(doc.destination).toEqual({ ip: '10.0.0.2', port: 443, bytes: 2000 });
    expect(doc.network.direction).toBe('egress');
    expect(doc.network.community_id).toMatch(/^1:/);
    expect(doc.process).toEqual({ pid: 4242, name: 'curl', executable: '/usr/bin/curl', thread: { id: 4243 }, parent: { pid: 1, name: 'bash' } });
    expect(doc.connaudit.connect_latency_ms).toBe(1.234);
    expect(doc.service).toEqual({ environment: 'prod' });
    expect(doc.event.outcome).toBe('success');
    expect(doc.ecs.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(doc.host).toEqual({ name: 'web-1', ip: ['10.0.0.1'] });
    expect(doc.related).toEqual({ ip: ['10.0.0.1', '10.0.0.2'], hosts: ['web-1'], user: ['1000'] });
    expect(doc.connaudit).toMatchObject({ sampled: false, started_before_agent: false });
    expect(doc.connaudit.process_unknown_reason).toBeUndefined();
    expect(doc.connaudit.sanitized).toBeUndefined();
  });

  it('puts the local address in host.ip: the destination of an accepted connection', () => {
    expect(recordToDoc(sampleRecord({ direction: 'ingress' })).host.ip).toEqual(['10.0.0.2']);
  });

  it('writes the new record fields', () => {
    const doc = recordToDoc(sampleRecord({ sampled: true, started_before_agent: true, process_unknown_reason: 'exited', pid: null, uid: null }));
    expect(doc.connaudit).toMatchObject({ sampled: true, started_before_agent: true, process_unknown_reason: 'exited' });
    expect(doc.related.user).toBeUndefined();
  });

  // A hostile process picks its own name: a NUL, an ANSI escape and a
  // right-to-left override must not reach an analyst's screen as they are.
  it.each([
    ['comm', 'process.name', 'gnp\u202Eexe.png', 'gnp\\u202eexe.png'],
    ['executable', 'process.executable', '/tmp/\u001b[31mred', '/tmp/\\x1b[31mred'],
    ['parent_name', 'process.parent.name', 'bash\u0000evil', 'bash\\x00evil'],
    ['host', 'host.name', 'web\u200b-1', 'web\\u200b-1'],
    ['container_id', 'container.id', 'c1\r\nfake log line', 'c1\\x0d\\x0afake log line'],
  ] as const)('escapes control and bidi characters in %s and keeps the original', (field, path, hostile, shown) => {
    const rec = sampleRecord({ [field]: hostile });
    const doc = recordToDoc(rec) as unknown as Record<string, any>;
    const at = (o: any, p: string) => p.split('.').reduce((x, k) => x?.[k], o);
    expect(at(doc, path)).toBe(shown);
    expect(at(doc.connaudit.raw, path)).toBe(hostile);
    expect(doc.connaudit.sanitized).toBe(true);
    expect(docToRecord(JSON.parse(JSON.stringify(doc)))).toEqual(rec);
  });

  it('leaves ordinary non-ASCII names alone', () => {
    const doc = recordToDoc(sampleRecord({ comm: 'nginx: wörker', executable: '/opt/日本/app' }));
    expect(doc.process?.name).toBe('nginx: wörker');
    expect(doc.connaudit.sanitized).toBeUndefined();
    expect(doc.connaudit.raw).toBeUndefined();
  });

  it('round-trips record -> doc -> record', () => {
    for (const over of <Array<Partial<ConnectionRecord>>>[{}, { family: 'ipv6' as const, src_ip: ipToBytes('fd00::1'), dst_ip: ipToBytes('fd00::2') }, { pid: null, comm: null, labels: {} },
      { sampled: true, started_before_agent: true, process_unknown_reason: 'exited', agent_version: '' }, { kind: 'interim' as const, close_reason: 'open' as const, labels: { a: '1', b: 'two' } }]) {
      const rec = sampleRecord(over);
      expect(docToRecord(JSON.parse(JSON.stringify(recordToDoc(rec))))).toEqual(rec);
    }
  });

  it('names the bad field', () => {
    const doc = JSON.parse(JSON.stringify(recordToDoc(sampleRecord()))) as Record<string, any>;
    doc.destination.port = '443';
    expect(() => docToRecord(doc)).toThrow('destination.port: must be a number, got "443"');
    delete doc.destination.port;
    expect(() => docToRecord(doc)).toThrow('destination.port: is required');
    doc.destination.port = 1; doc.source.ip = 'nope';
    expect(() => docToRecord(doc)).toThrow(/source.ip: not an IP address/);
    doc.source.ip = '10.0.0.1'; doc.connaudit.sampled = 'yes';
    expect(() => docToRecord(doc)).toThrow('connaudit.sampled: must be a boolean, got "yes"');
    doc.connaudit.sampled = true; doc.user.id = 'root';
    expect(() => docToRecord(doc)).toThrow('user.id: must be a decimal number, got "root"');
    doc.user.id = '0'; doc.connaudit.conn_state = 'XX';
    expect(() => docToRecord(doc)).toThrow(/connaudit.conn_state: must be one of S0, S1/);
  });
});
