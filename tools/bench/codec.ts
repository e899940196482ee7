import { encodeConnection, decodeConnection } from '../../lib/avro.js';
import { recordToDoc } from '../../lib/ecs.js';
import { decodeConnectionDoc } from '../../lib/record-decode.js';
import { ipToBytes } from '../../lib/ip.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { recordDefaults } from '../../lib/record-fields.js';

// How many connection records per second one core can encode (agent side) and
// decode + map to ECS (pipeline side), and how big a record is on the wire.
// decodePerSec is the pipeline's path (lib/record-decode.ts, bytes straight
// into the document); viaRecordPerSec is avsc's decode then recordToDoc, the
// path records from older agents take.

// The machine is often shared, so decode is also given per CPU-second of this
// process (user + system), which other load does not dilute.

export interface CodecResult { records: number; encodePerSec: number; decodePerSec: number; decodePerCpuSec: number; viaRecordPerSec: number; bytesPerRecord: number }

function record(i: number): ConnectionRecord {
  return {
    ...recordDefaults(),
    event_id: `e${i}`, conn_uid: `C${i}`, kind: 'final', start_us: 1_763_770_000_000_000 + i * 1000, end_us: 1_763_770_000_500_000 + i * 1000,
    host: `host-${i % 50}`, netns: 4026531840, direction: i % 2 ? 'egress' : 'ingress', family: 'ipv4',
    src_ip: ipToBytes(`10.0.${(i >> 8) & 255}.${i & 255}`), src_port: 30000 + (i % 30000), dst_ip: ipToBytes('10.1.0.10'), dst_port: 443,
    conn_state: 'SF', close_reason: 'fin', connect_latency_us: 900 + (i % 300), srtt_us: 500, retransmits: i % 7 === 0 ? 1 : 0,
    syn_retransmits: 0, rst_sent: 0, rst_received: 0, src_bytes: 512, dst_bytes: 4096, pid: 1000 + (i % 100), tid: 1000 + (i % 100), ppid: 1,
    uid: 1000, comm: 'checkout', executable: '/usr/bin/checkout', parent_name: 'systemd', cgroup_id: 1234, container_id: null,
    environment: 'prod', node_group: 'ng-a', labels: { team: 'payments' }, agent_version: '0.1.0',
  };
}

export function benchCodec(n = 200_000): CodecResult {
  const recs = Array.from({ length: n }, (_, i) => record(i));
  let t = process.hrtime.bigint();
  const bufs = recs.map(encodeConnection);
  const encNs = Number(process.hrtime.bigint() - t);
  let sink = 0;
  for (let i = 0; i < Math.min(n, 20_000); i++) sink += decodeConnectionDoc(bufs[i]!).source.port; // warm up the JIT
  t = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  for (const b of bufs) sink += decodeConnectionDoc(b).source.port;
  const decNs = Number(process.hrtime.bigint() - t);
  const cpu = process.cpuUsage(cpu0);
  t = process.hrtime.bigint();
  for (const b of bufs) sink += recordToDoc(decodeConnection(b)).source.port;
  const viaNs = Number(process.hrtime.bigint() - t);
  if (sink === 0) throw new Error('decode produced nothing');
  const bytes = bufs.reduce((s, b) => s + b.length, 0);
  const perSec = (ns: number): number => Math.round(n / (ns / 1e9));
  return { records: n, encodePerSec: perSec(encNs), decodePerSec: perSec(decNs), decodePerCpuSec: perSec((cpu.user + cpu.system) * 1000), viaRecordPerSec: perSec(viaNs), bytesPerRecord: Math.round(bytes / n) };
}
