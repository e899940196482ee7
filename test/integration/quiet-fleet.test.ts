import { randomBytes } from 'node:crypto';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertDoc } from '../../lib/alert.js';
import { encodeConnection } from '../../lib/avro.js';
import { kafkaConfig } from '../../lib/connect.js';
import { ipToBytes } from '../../lib/ip.js';
import type { AdminServer } from '../../lib/metrics.js';
import { INDEX_ALERTS, TOPIC_REKEY } from '../../lib/names.js';
import { fromRoot } from '../../lib/paths.js';
import type { ConnectionRecord } from '../../lib/record.js';
import { runPipeline } from '../../pipeline/run.js';
import { skipUnless } from '../helpers/env.js';
import { endOffsets, groupAt, prepareTopics } from '../helpers/kafka.js';
import { countConnections, esClient } from '../helpers/pipeline-io.js';
import { record } from '../helpers/records.js';

// A fleet that goes quiet after an attack, on real Kafka and Elasticsearch
// with the shipped rules. The records are a replay (dated 30-40 minutes ago),
// then nothing more arrives on the pipeline's input topic. The pivot chain
// A -> B -> C waits for event time to pass its root's grace (15 min); with no
// later record, only the watermark of idle partitions (processing time) can
// get it there. The alerts must reach connaudit-alerts within the idle
// timeout plus the allowed lateness (2 s + 1 s here) after the input went
// quiet (plus the consumer's and Elasticsearch's own latency). A record that
// arrives after that, dated before the watermark, is late: it is counted on
// /metrics and still indexed.

const FANOUT_RULE = '4182cd62-16d8-4f75-8972-287f52dd18b7';
const PIVOT_RULE = '1d224526-9685-4de4-897e-2c5c493f9217';
const IDLE_S = 2;
const LATENESS_S = 1;

const run = randomBytes(4).toString('hex');
const oct = parseInt(run.slice(0, 2), 16);
const log = pino({ level: process.env.CONNAUDIT_LOG_LEVEL ?? 'warn' }, pino.destination(2));
const kafka = new Kafka({ ...kafkaConfig(`itest-quiet-${run}`), logLevel: logLevel.NOTHING });
const es = esClient();
const topic = `itest-quiet-${run}`;
const healthTopic = `itest-quiet-${run}-health`;
const host = (ip: string) => `itest-quiet-${run}-${ip.replace(/\./g, '-')}`;
const ATTACKER = `10.98.${oct}.250`;
const [A, B, C] = [1, 2, 3].map((i) => `10.99.${oct}.${i}`) as [string, string, string];

function encoder(nowUs: number) {
  const out: Array<{ key: string; value: Buffer }> = [];
  let n = 0;
  const add = (over: Partial<ConnectionRecord> & { host: string }, startMinAgo: number, durS: number) => {
    const start = nowUs - startMinAgo * 60e6;
    out.push({ key: over.host, value: encodeConnection(record(n++, { ...over, start_us: start, end_us: start + durS * 1e6 })) });
  };
  /** One admin hop, reported by both of its ends. */
  const hop = (src: string, dst: string, port: number, sport: number, startMinAgo: number, durS: number) => {
    const h = { src_ip: ipToBytes(src), dst_ip: ipToBytes(dst), src_port: sport, dst_port: port, comm: 'ssh' };
    add({ host: host(src), direction: 'egress', ...h }, startMinAgo, durS);
    add({ host: host(dst), direction: 'ingress', ...h }, startMinAgo, durS);
  };
  return { add, hop, take: () => out.splice(0) };
}

async function send(messages: Array<{ key: string; value: Buffer }>): Promise<void> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({ topic, messages });
  await producer.disconnect();
}

async function alerts(ruleId: string, ips: string[]): Promise<AlertDoc[]> {
  await es.indices.refresh({ index: INDEX_ALERTS });
  const r = await es.search<AlertDoc>({ index: INDEX_ALERTS, size: 20, query: { bool: { filter: [{ term: { 'rule.id': ruleId } }, { terms: { 'source.ip': ips } }] } } });
  return r.hits.hits.map((h) => h._source!);
}

async function waitFor<T>(what: () => Promise<T[]>, timeoutMs: number): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await what();
    if (got.length > 0 || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function metricsText(server: AdminServer): Promise<string> {
  return (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
}

describe('a fleet that goes quiet (real Kafka and Elasticsearch, shipped rules)', () => {
  afterAll(async () => {
    const admin = kafka.admin();
    await admin.connect().catch(() => undefined);
    await admin.deleteTopics({ topics: [topic, healthTopic] }).catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await es.close();
  });

  it('raises the pivot chain and the fan-out within idle timeout + lateness once no more records come; a later, older record is counted late and indexed', async (ctx) => {
    if (await skipUnless(ctx, 'kafka', 'elasticsearch')) return;
    await prepareTopics(kafka);
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }, { topic: healthTopic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const group = `itest-quiet-${run}`;
    await groupAt(kafka, `${group}-rekey`, { [TOPIC_REKEY]: await endOffsets(kafka, TOPIC_REKEY) });

    let server: AdminServer | undefined;
    const ac = new AbortController();
    const pipeline = runPipeline({
      config: { rules: fromRoot('rules'), watermark: { idle_timeout_s: IDLE_S, allowed_lateness_s: LATENESS_S } },
      group, topics: { connections: topic, agentHealth: healthTopic }, log, signal: ac.signal,
      metrics: { port: 0 }, onAdminServer: (s) => { server = s; },
    });
    try {
      const enc = encoder(Date.now() * 1000);
      // A -> B on 22 (a long session), then B -> C on 22; 40 and 38 minutes ago.
      enc.hop(A, B, 22, 41001, 40, 300);
      enc.hop(B, C, 22, 41002, 38, 30);
      // Fan-out: 12 targets report a refused inbound admin connection from one source (which runs no sensor).
      for (let i = 0; i < 12; i++) {
        const dst = `10.97.${oct}.${i + 1}`;
        enc.add({ host: host(dst), direction: 'ingress', src_ip: ipToBytes(ATTACKER), dst_ip: ipToBytes(dst), src_port: 50000 + i, dst_port: [22, 445, 3389][i % 3]!, conn_state: 'REJ', close_reason: 'refused', comm: 'sshd' }, 30 - i * 0.1, 0.1);
      }
      const sent = enc.take();
      await send(sent);
      const sentAt = Date.now();

      const fanout = await waitFor(() => alerts(FANOUT_RULE, [ATTACKER]), 30_000);
      const pivots = await waitFor(() => alerts(PIVOT_RULE, [A, B, C]), 30_000);
      const pivotAfterS = (Date.now() - sentAt) / 1000;
      process.stderr.write(`quiet fleet: pivot-chain alert searchable ${pivotAfterS.toFixed(1)} s after the last record was produced (idle_timeout_s ${IDLE_S}, allowed_lateness_s ${LATENESS_S})\n`);
      expect(fanout, 'one fan-out alert for the attacker').toHaveLength(1);
      expect(fanout[0]!.connaudit.alert.count).toBeGreaterThanOrEqual(10);
      expect(pivots.map((p) => p.connaudit.alert.values), 'one pivot-chain alert A -> B -> C').toEqual([[A, B, C]]);
      expect(pivots[0]!.connaudit.alert.count).toBe(2);
      // Every record is indexed: in = out.
      let indexed = 0;
      for (const h of new Set(sent.map((m) => m.key))) indexed += await countConnections(es, h);
      expect(indexed).toBe(sent.length);

      // The pipeline's watermark now follows the wall clock; a record dated 45 minutes ago is late.
      let text = await metricsText(server!);
      const wm = Number(new RegExp(`connaudit_pipeline_watermark_seconds\\{group="${group}",component="pipeline"\\} ([\\d.e+]+)`).exec(text)?.[1]);
      expect(wm * 1000, 'watermark within idle timeout + lateness (+ tick) of the wall clock').toBeGreaterThan(Date.now() - (IDLE_S + LATENESS_S + 5) * 1000);
      expect(text).toMatch(new RegExp(`connaudit_pipeline_idle_partitions\\{group="${group}",component="pipeline"\\} [1-9]`));
      const lateHost = host(`10.99.${oct}.9`);
      enc.add({ host: lateHost, direction: 'egress', src_ip: ipToBytes(`10.99.${oct}.9`), dst_ip: ipToBytes(`10.99.${oct}.10`), dst_port: 443, comm: 'curl' }, 45, 1);
      await send(enc.take());
      const lateIndexed = await waitFor(async () => ((await countConnections(es, lateHost)) > 0 ? [1] : []), 20_000);
      expect(lateIndexed, 'the late record is indexed, not dropped').toEqual([1]);
      text = await metricsText(server!);
      expect(text).toContain(`connaudit_pipeline_late_records_total{topic="${topic}",component="pipeline"} 1`);
    } finally {
      ac.abort();
      expect(await pipeline).toBe(0);
    }
  }, 120_000);
});
