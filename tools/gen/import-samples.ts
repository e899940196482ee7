import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { communityId } from '../../lib/community-id.js';

// Writes the sample inputs of `connaudit import` tests (test/fixtures/import/):
// a Zeek conn.log in both writers' formats and ECS documents as Packetbeat and
// Elastic Defend shape them. Written for the tests (no third-party data); each
// file also holds the lines the importer must count and report: UDP, an
// unknown conn_state, a bad address, a cut line.
// Run: node dist/tools/gen/import-samples.js [repoRoot]

const T0 = 1_741_000_000; // 2025-03-03T11:06:40Z, epoch seconds
const cid = (s: string, sp: number, d: string, dp: number, proto = 6) => communityId({ proto, saddr: s, daddr: d, sport: sp, dport: dp });

interface Z { dt: number; uid: string; o: string; op: number; r: string; rp: number; proto?: string; service?: string; dur?: number; ob?: number; rb?: number; state: string; lo: boolean; lr: boolean; hist: string }
const conns: Z[] = [
  { dt: 0, uid: 'CzA1', o: '10.2.0.5', op: 50001, r: '10.1.0.10', rp: 443, service: 'ssl', dur: 0.52, ob: 517, rb: 4210, state: 'SF', lo: true, lr: true, hist: 'ShADadFf' },
  { dt: 1.5, uid: 'CzA2', o: '10.2.0.6', op: 50002, r: '10.1.0.10', rp: 443, dur: 0.0004, ob: 0, rb: 0, state: 'REJ', lo: true, lr: true, hist: 'Sr' },
  { dt: 2, uid: 'CzA3', o: '10.2.0.7', op: 50003, r: '10.1.0.10', rp: 443, dur: 3.01, ob: 0, rb: 0, state: 'S0', lo: true, lr: true, hist: 'S' },
  { dt: 2.5, uid: 'CzA4', o: '10.2.0.5', op: 53000, r: '10.0.0.53', rp: 53, proto: 'udp', service: 'dns', dur: 0.001, ob: 40, rb: 120, state: 'SF', lo: true, lr: true, hist: 'Dd' },
  { dt: 3, uid: 'CzA5', o: '198.51.100.23', op: 40000, r: '10.1.0.10', rp: 443, service: 'ssl', dur: 1.2, ob: 900, rb: 12000, state: 'SF', lo: false, lr: true, hist: 'ShADadTFf' },
  { dt: 4, uid: 'CzA6', o: '10.2.0.8', op: 50004, r: '10.1.0.10', rp: 443, dur: 0.2, ob: 300, rb: 0, state: 'RSTO', lo: true, lr: true, hist: 'ShADaR' },
  { dt: 5, uid: 'CzA7', o: '10.2.0.9', op: 50005, r: '10.1.0.10', rp: 443, dur: 0.2, ob: 1, rb: 1, state: 'XX', lo: true, lr: true, hist: 'ShAD' },
  { dt: 6, uid: 'CzA8', o: '10.2.0.300', op: 50006, r: '10.1.0.10', rp: 443, dur: 0.1, ob: 1, rb: 1, state: 'SF', lo: true, lr: true, hist: 'ShADFf' },
  { dt: 7, uid: 'CzA9', o: '10.2.0.11', op: 50007, r: '10.1.0.10', rp: 443, state: 'S1', lo: true, lr: true, hist: 'ShAD' },
];

const FIELDS = ['ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto', 'service', 'duration', 'orig_bytes', 'resp_bytes', 'conn_state', 'local_orig', 'local_resp', 'missed_bytes', 'history', 'orig_pkts', 'orig_ip_bytes', 'resp_pkts', 'resp_ip_bytes', 'tunnel_parents', 'community_id'];
const TYPES = ['time', 'string', 'addr', 'port', 'addr', 'port', 'enum', 'string', 'interval', 'count', 'count', 'string', 'bool', 'bool', 'count', 'string', 'count', 'count', 'count', 'count', 'set[string]', 'string'];

function row(z: Z): Record<string, unknown> {
  const proto = z.proto ?? 'tcp';
  let id = '-';
  try { id = cid(z.o, z.op, z.r, z.rp, proto === 'udp' ? 17 : 6); } catch { /* a bad address has no community id */ }
  return {
    ts: (T0 + z.dt).toFixed(6), uid: z.uid, 'id.orig_h': z.o, 'id.orig_p': z.op, 'id.resp_h': z.r, 'id.resp_p': z.rp, proto, service: z.service,
    duration: z.dur?.toFixed(6), orig_bytes: z.ob, resp_bytes: z.rb, conn_state: z.state, local_orig: z.lo, local_resp: z.lr, missed_bytes: 0, history: z.hist,
    orig_pkts: 3, orig_ip_bytes: 300, resp_pkts: 2, resp_ip_bytes: 200, tunnel_parents: undefined, community_id: id === '-' ? undefined : id,
  };
}

function tsv(): string {
  const head = ['#separator \\x09', '#set_separator\t,', '#empty_field\t(empty)', '#unset_field\t-', '#path\tconn', '#open\t2025-03-03-11-06-40',
    `#fields\t${FIELDS.join('\t')}`, `#types\t${TYPES.join('\t')}`];
  const lines = conns.map((z) => FIELDS.map((f) => {
    const v = row(z)[f];
    return v === undefined ? '-' : typeof v === 'boolean' ? (v ? 'T' : 'F') : String(v);
  }).join('\t'));
  lines.splice(7, 0, `${(T0 + 6.5).toFixed(6)}\tCzCut\t10.2.0.12\t50008`); // a line cut short
  return `${[...head, ...lines, '#close\t2025-03-03-11-07-00'].join('\n')}\n`;
}

function json(): string {
  return `${conns.map((z) => {
    const r = row(z);
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) {
      if (v === undefined) continue;
      o[k] = k === 'ts' || k === 'duration' ? Number(v) : v;
    }
    return JSON.stringify(o);
  }).join('\n')}\n`;
}

const iso = (s: number) => new Date(s * 1000).toISOString();

function packetbeat(): string {
  const flow = (dt: number, src: string, sp: number, dst: string, dp: number, o: Record<string, unknown>) => ({
    '@timestamp': iso(T0 + dt + 10), agent: { type: 'packetbeat', name: 'pb-1' }, host: { name: 'web-gw-1', ip: ['10.1.0.1'] },
    event: { kind: 'event', category: ['network'], type: ['connection', 'end'], dataset: 'flow', start: iso(T0 + dt), end: iso(T0 + dt + 10), duration: 10e9, action: 'network_flow' },
    flow: { id: `F${dt}`, final: true },
    source: { ip: src, port: sp, packets: 6, bytes: 900 }, destination: { ip: dst, port: dp, packets: 5, bytes: 7000 },
    network: { transport: 'tcp', type: 'ipv4', direction: 'egress', community_id: cid(src, sp, dst, dp), bytes: 7900, packets: 11 },
    ...o,
  });
  const docs = [
    flow(0, '10.2.0.5', 51001, '10.1.0.10', 443, {}),
    // no reply at all: a failed attempt
    flow(1, '10.2.0.6', 51002, '10.1.0.10', 443, { destination: { ip: '10.1.0.10', port: 443, packets: 0, bytes: 0 }, source: { ip: '10.2.0.6', port: 51002, packets: 3, bytes: 0 } }),
    // a flow still open: an interim snapshot
    flow(2, '10.2.0.7', 51003, '10.1.0.10', 443, { flow: { id: 'F2', final: false }, event: { kind: 'event', category: ['network'], type: ['connection'], dataset: 'flow', start: iso(T0 + 2), end: iso(T0 + 12), duration: 10e9 } }),
    // UDP flow: skipped
    flow(3, '10.2.0.5', 53001, '10.0.0.53', 53, { network: { transport: 'udp', type: 'ipv4', community_id: cid('10.2.0.5', 53001, '10.0.0.53', 53, 17) } }),
    // an Elasticsearch export line
    { _index: 'packetbeat-8.19-2025.03.03', _id: 'x1', _source: flow(4, '10.2.0.8', 51004, '10.1.0.10', 443, {}) },
  ];
  return `${docs.map((d) => JSON.stringify(d)).join('\n')}\n{not json\n`;
}

function defend(): string {
  const ev = (dt: number, action: string, types: string[], o: Record<string, unknown> = {}) => ({
    '@timestamp': iso(T0 + dt), agent: { type: 'endpoint' }, host: { name: 'app-7', ip: ['10.2.0.20'], os: { type: 'linux' } },
    event: { kind: 'event', category: ['network'], type: types, action, dataset: 'endpoint.events.network', module: 'endpoint' },
    process: { pid: 4242, name: 'curl', executable: '/usr/bin/curl', parent: { pid: 4200, name: 'bash' } },
    user: { id: '1000', name: 'alice' },
    source: { ip: '10.2.0.20', port: 52010 }, destination: { ip: '10.1.0.10', port: 443 },
    network: { transport: 'tcp', type: 'ipv4', direction: 'egress' },
    ...o,
  });
  const docs = [
    ev(0, 'connection_attempted', ['start']),
    ev(2, 'disconnect_received', ['end'], { source: { ip: '10.2.0.20', port: 52010, bytes: 800 }, destination: { ip: '10.1.0.10', port: 443, bytes: 5300 } }),
    // a Windows SID as user.id is not a uid: the document is kept, the user is not
    ev(3, 'disconnect_received', ['end'], { user: { id: 'S-1-5-18' }, source: { ip: '10.2.0.20', port: 52011 } }),
    // no address: cannot be judged
    ev(4, 'disconnect_received', ['end'], { destination: { port: 443 } }),
  ];
  return `${docs.map((d) => JSON.stringify(d)).join('\n')}\n`;
}

export function writeImportSamples(root: string): string[] {
  const dir = join(root, 'test', 'fixtures', 'import');
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = { 'zeek-conn.tsv': tsv(), 'zeek-conn.json': json(), 'packetbeat-flows.jsonl': packetbeat(), 'defend-network.jsonl': defend() };
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return Object.keys(files);
}

if (process.argv[1]?.endsWith('import-samples.js')) {
  process.stderr.write(`wrote ${writeImportSamples(process.argv[2] ?? process.cwd()).join(', ')}\n`);
}
