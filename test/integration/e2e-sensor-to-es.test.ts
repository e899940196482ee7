import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { INDEX_CONNECTIONS } from '../../lib/names.js';
import { esClient, eventually, runCli, type Proc } from '../helpers/cli.js';
import { skipUnless } from '../helpers/env.js';
import { NetnsLab, TCP_PEER, sweepStaleLabs, type NsHost } from '../lab/netns.js';

// The walking skeleton, every part real: a TCP connection made between
// two namespace "hosts" is seen by the eBPF sensor, encoded as Avro by the
// agent, produced to the real Kafka, consumed by the pipeline and indexed into
// the real Elasticsearch, where the test finds it within 30 s.

const tag = randomBytes(3).toString('hex');
const CLIENT_HOST = `e2e-client-${tag}`;
const SERVER_HOST = `e2e-server-${tag}`;
let lab: NetnsLab | undefined;
let tmp = '';
const procs: Proc[] = [];
const servers: Array<{ kill: (s?: NodeJS.Signals) => boolean }> = [];

afterAll(async () => {
  for (const p of procs) await p.stop('SIGTERM', 15_000);
  for (const s of servers) s.kill('SIGKILL');
  lab?.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function clientRun(host: NsHost, name: string, addr: string, port: number): Promise<string> {
  const p = host.spawn(['python3', TCP_PEER, 'client', name, addr, String(port), 'normal', '700']);
  let out = '';
  p.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  return new Promise((resolve) => p.once('exit', () => resolve(out)));
}

describe('sensor -> agent -> Kafka -> pipeline -> Elasticsearch', () => {
  it('indexes a successful (SF) and a refused (REJ) connection with process and destination', async (ctx) => {
    if (await skipUnless(ctx, 'bpf', 'netns', 'kafka', 'elasticsearch')) return;
    sweepStaleLabs();
    lab = NetnsLab.create(2);
    const [client, server] = lab.hosts as [NsHost, NsHost];
    tmp = mkdtempSync(join(tmpdir(), 'ca-e2e-'));
    const agentCfg = join(tmp, 'agent.yaml');
    writeFileSync(agentCfg, `host: e2e-root-${tag}
environment: e2e
netns_hosts:
  ${client.path}: ${CLIENT_HOST}
  ${server.path}: ${SERVER_HOST}
spool:
  dir: ${join(tmp, 'spool')}
`);

    // The pipeline joins first (a new group starts at the newest offset), so
    // it sees exactly what this test produces.
    const pipeline = runCli(['pipeline', '--config', 'config/pipeline.yaml', '--offset-reset', 'latest', '--group', `e2e-${tag}`, '--state-dir', join(tmp, 'state')]);
    procs.push(pipeline);
    await pipeline.waitForLog(new RegExp(`"group":"e2e-${tag}".*joined consumer group`), 90_000);

    const agent = runCli(['agent', '--config', agentCfg, '--output', 'kafka']);
    procs.push(agent);
    await agent.waitForLog('sensor attached', 60_000);

    const srv = server.spawn(['python3', TCP_PEER, 'serve', 'e2e-srv', '0.0.0.0', '8080', 'echo']);
    servers.push(srv);
    await new Promise<void>((resolve, reject) => {
      srv.stdout!.once('data', () => resolve());
      srv.once('exit', (code) => reject(new Error(`test server exited with ${code}`)));
    });
    const started = Date.now();
    const ok = await clientRun(client, 'e2e-cli-ok', server.ip4, 8080);
    const refused = await clientRun(client, 'e2e-cli-rej', server.ip4, 8081);
    expect(ok).toMatch(/^LOCAL /m);
    expect(refused).toMatch(/ERROR ECONNREFUSED/);

    const es = esClient();
    const find = (procName: string) => eventually(`the ${procName} document in ${INDEX_CONNECTIONS}`, async () => {
      await es.indices.refresh({ index: INDEX_CONNECTIONS });
      const r = await es.search<ConnectionDoc>({
        index: INDEX_CONNECTIONS,
        query: { bool: { filter: [{ term: { 'host.name': CLIENT_HOST } }, { term: { 'process.name': procName } }] } },
      });
      return r.hits.hits[0]?._source;
    }, 30_000);
    const [sf, rej] = await Promise.all([find('e2e-cli-ok'), find('e2e-cli-rej')]);
    const elapsed = Date.now() - started;

    expect(sf).toMatchObject({
      host: { name: CLIENT_HOST },
      process: { name: 'e2e-cli-ok' },
      destination: { ip: server.ip4, port: 8080 },
      network: { direction: 'egress', transport: 'tcp', type: 'ipv4' },
      connaudit: { conn_state: 'SF', close_reason: 'fin' },
    });
    expect(sf.connaudit.connect_latency_ms).toBeGreaterThan(0);
    expect(sf.network.community_id).toMatch(/^1:/);
    expect(rej).toMatchObject({
      process: { name: 'e2e-cli-rej' },
      destination: { ip: server.ip4, port: 8081 },
      connaudit: { conn_state: 'REJ', close_reason: 'refused' },
    });
    expect(elapsed).toBeLessThan(30_000);

    // The seed's labels answer under their exact names (field aliases).
    const bySeedLabels = await es.count({
      index: INDEX_CONNECTIONS,
      query: { bool: { filter: [
        { term: { 'host.name': CLIENT_HOST } }, { term: { 'process.name': 'e2e-cli-ok' } },
        { term: { 'destination.ip': server.ip4 } }, { term: { 'destination.port': 8080 } },
        { term: { 'connection.state': 'SF' } }, { range: { latency_ms: { gt: 0 } } }, { term: { environment: 'e2e' } },
      ] } },
    });
    expect(bySeedLabels.count).toBe(1);

    // The server side saw the accepted connection too (ingress, attributed to the listener).
    const ingress = await eventually('the server ingress document', async () => {
      await es.indices.refresh({ index: INDEX_CONNECTIONS });
      const r = await es.search<ConnectionDoc>({
        index: INDEX_CONNECTIONS,
        query: { bool: { filter: [{ term: { 'host.name': SERVER_HOST } }, { term: { 'network.direction': 'ingress' } }, { term: { 'destination.port': 8080 } }] } },
      });
      return r.hits.hits[0]?._source;
    }, 30_000);
    expect(ingress.process?.name).toBe('e2e-srv');
    expect(ingress.source.ip).toBe(client.ip4);
    expect(ingress.network.community_id).toBe(sf.network.community_id);
    await es.close();
  }, 240_000);
});
