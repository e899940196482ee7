import { recordDefaults } from '../../lib/record-fields.js';
import { randomBytes } from 'node:crypto';
import { KafkaSink } from '../../agent/kafka-sink.js';
import { connUid, eventId } from '../../lib/ids.js';
import { ipToBytes } from '../../lib/ip.js';
import { COMPRESSION_NAMES, type CompressionName } from '../../lib/kafka-codecs.js';
import { createKafka } from '../../lib/kafka.js';
import { createLogger } from '../../lib/log.js';
import type { ConnectionRecord } from '../../lib/record.js';

// Bytes per connection record as the agent sends them to the broker, for each
// batch codec: the agent's own KafkaSink (same batching, headers and producer
// settings) writes to a throwaway topic on the broker of KAFKA_BROKERS, and
// the bytes written to its sockets (lib/kafka.ts WireMeter) are divided by
// the records Kafka acknowledged. Records look like one busy host's: a few
// processes, many peers and ports, and the two per-record hashes (conn_uid,
// event_id) that no codec can shrink.

export interface WireResult {
  codec: CompressionName;
  records: number;
  wireBytesPerRecord: number;
  avroBytesPerRecord: number;
  /** Agent CPU per 100,000 records (encode, compress, send), ms. */
  cpuMsPer100k: number;
  seconds: number;
}

const PROCS = [
  { comm: 'nginx', exe: '/usr/sbin/nginx', parent: 'nginx', uid: 33 },
  { comm: 'checkout', exe: '/srv/checkout/bin/checkout', parent: 'systemd', uid: 1001 },
  { comm: 'postgres', exe: '/usr/lib/postgresql/16/bin/postgres', parent: 'postgres', uid: 112 },
  { comm: 'curl', exe: '/usr/bin/curl', parent: 'bash', uid: 1000 },
];

export function record(host: string, i: number): ConnectionRecord {
  const p = PROCS[i % 7 === 0 ? 3 : i % 3]!;
  const startNs = 1_000_000_000_000 + i * 7_919_000;
  const uid = connUid(host, 'b7c1e2d4-boot', BigInt(0xffff8881_00000000n + BigInt(i * 64)), startNs);
  const endUs = 1_763_770_000_000_000 + i * 1_100 + (i % 97) * 13;
  const ingress = p.comm === 'nginx' || p.comm === 'postgres';
  return {
    ...recordDefaults(),
    event_id: eventId(uid, 'final', endUs), conn_uid: uid, kind: 'final',
    start_us: endUs - 1_000 - (i % 5000) * 17, end_us: endUs,
    host, netns: 4026531840, direction: ingress ? 'ingress' : 'egress', family: 'ipv4',
    src_ip: ipToBytes(ingress ? `10.${20 + (i % 4)}.${(i >> 8) & 255}.${i & 255}` : '10.1.0.7'),
    src_port: ingress ? 32768 + ((i * 7) % 28000) : 32768 + ((i * 13) % 28000),
    dst_ip: ipToBytes(ingress ? '10.1.0.7' : `10.2.${(i >> 4) & 15}.${10 + (i % 16)}`),
    dst_port: p.comm === 'nginx' ? 443 : p.comm === 'postgres' ? 5432 : [443, 8080, 5432, 6379][i % 4]!,
    conn_state: i % 50 === 0 ? 'REJ' : 'SF', close_reason: i % 50 === 0 ? 'rst_received' : 'fin',
    connect_latency_us: 150 + (i * 31) % 900, srtt_us: 80 + (i * 17) % 400,
    retransmits: i % 41 === 0 ? 1 : 0, syn_retransmits: 0, rst_sent: 0, rst_received: i % 50 === 0 ? 1 : 0,
    src_bytes: 300 + (i * 37) % 4000, dst_bytes: 1200 + (i * 101) % 60_000,
    pid: 2000 + (i % 3), tid: 2000 + (i % 3), ppid: 1, uid: p.uid, comm: p.comm, executable: p.exe, parent_name: p.parent,
    cgroup_id: 9120 + (i % 3), container_id: null, environment: 'prod', node_group: 'web', labels: { team: 'payments' }, agent_version: '0.2.0',
  };
}

async function one(codec: CompressionName, n: number, env: NodeJS.ProcessEnv): Promise<WireResult> {
  const log = createLogger('bench.kafka', 'warn');
  const topic = `connaudit-bench-wire-${codec}-${randomBytes(3).toString('hex')}`;
  const admin = createKafka({ clientId: 'connaudit-bench', env, log }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: -1 }], waitForLeaders: true });
    const host = 'web-17.prod.example';
    const recs = Array.from({ length: n }, (_, i) => record(host, i));
    const { encodeConnection } = await import('../../lib/avro.js');
    const avroBytes = recs.reduce((s, r) => s + encodeConnection(r).length, 0);
    const sink = new KafkaSink({ env, topic, compression: codec, health: false, log });
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (const r of recs) await sink.write(r);
    await sink.flush();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const c = sink.counters();
    await sink.close();
    if (c.produced !== n) throw new Error(`${codec}: Kafka acknowledged ${c.produced} of ${n} records`);
    return {
      codec, records: n,
      wireBytesPerRecord: Number((c.wireBytes / n).toFixed(1)),
      avroBytesPerRecord: Number((avroBytes / n).toFixed(1)),
      cpuMsPer100k: Math.round(((cpu.user + cpu.system) / 1000) * (100_000 / n)),
      seconds: Number(seconds.toFixed(2)),
    };
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

/** One run per codec, in a fixed order; returns them with the smallest first. */
export async function benchKafkaWire(n = 50_000, env: NodeJS.ProcessEnv = process.env, onProgress?: (s: string) => void): Promise<WireResult[]> {
  const out: WireResult[] = [];
  for (const codec of COMPRESSION_NAMES) {
    onProgress?.(`bench kafka: ${n} records with ${codec}…`);
    out.push(await one(codec, n, env));
  }
  return out.sort((a, b) => a.wireBytesPerRecord - b.wireBytesPerRecord);
}
