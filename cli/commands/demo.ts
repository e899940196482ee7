import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@elastic/elasticsearch';
import { eventually, ROOT, runCli, type Proc } from '../../test/lab/child.js';
import { esClientOptions } from '../../lib/connect.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { INDEX_ALERTS, INDEX_CONNECTIONS } from '../../lib/names.js';
import { NetnsLab, TCP_PEER, sweepStaleLabs, type NsHost } from '../../test/lab/netns.js';
import { parse, UserError, type Command } from '../command.js';

// `connaudit demo`: the whole path on this machine, for a person reading the
// README. Three namespace "hosts" make real TCP connections (a normal call, a
// refused one, an unanswered SYN, an abort, admin SSH), the eBPF sensor sees
// them, the agent produces Avro to Kafka, the pipeline enriches, runs the
// rules and SLO stage and indexes into Elasticsearch. Then the seed's SLO
// storm is replayed so the user sees an slo_impact alert and the incident
// report. Everything it starts it stops again; the services stay up.

const HELP = `Usage: connaudit demo [--no-storm] [--keep]

Runs connaudit end to end on this machine and prints what was indexed and how
to search it:
  1. connaudit services up (Kafka + Elasticsearch, if not running)
  2. connaudit pipeline (rules in rules/, catalogue config/services.yaml)
  3. connaudit agent (eBPF sensor; needs root) watching three network-namespace
     hosts demo-web, demo-db, demo-jump that make real connections:
     SF, REJ (refused), S0 (SYN dropped), RSTO (abort), admin SSH, and a
     client that resolves orders-db.shop.example.com at demo-db's DNS server
     first: DNS records, and connections named by destination.domain
  4. the seed's SLO storm (connaudit slo storm | connaudit agent --replay):
     an slo_impact alert and an HTML incident report
Without root or eBPF, step 3 is replaced by a replay of recorded documents.

Options:
  --no-storm   skip step 4
  --keep       leave the pipeline running at the end (Ctrl-C stops it)`;

const say = (s: string) => process.stderr.write(`${s}\n`);
const DEMO_NAME = 'orders-db.shop.example.com';

function canUseEbpf(): string | null {
  if (process.getuid?.() !== 0) return 'not running as root';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF';
  if (!existsSync(join(ROOT, 'bpf/connaudit.bpf.o'))) return 'bpf/connaudit.bpf.o is not built (make -C bpf)';
  return null;
}

function client(host: NsHost, name: string, addr: string, port: number, mode = 'normal', bytes = 2000): Promise<void> {
  const p = host.spawn(['python3', TCP_PEER, 'client', name, addr, String(port), mode, String(bytes)]);
  return new Promise((resolve) => p.once('exit', () => resolve()));
}

/** A DNS server for the lab (test/lab/dns-server.ts) answering `name` with `addr`. */
function dnsServer(host: NsHost, name: string, addr: string): Promise<{ kill: () => void }> {
  const p = host.spawn([process.execPath, join(ROOT, 'dist/test/lab/dns-server.js'), '53', '300', `${name}=${addr}`]);
  return new Promise((resolve, reject) => {
    p.stdout!.once('data', () => resolve({ kill: () => p.kill('SIGKILL') }));
    p.once('exit', (code) => reject(new Error(`demo DNS server exited with ${code}`)));
  });
}

/** `comm` resolves `name` at `resolver` (a real stub resolver), then connects to the address over TCP and sends UDP to it. */
function resolvingClient(host: NsHost, comm: string, resolver: string, name: string, tcpPort: number, udpPort: number): Promise<void> {
  const p = host.spawn([process.execPath, join(ROOT, 'dist/test/lab/dns-client.js'), comm, resolver, name, String(tcpPort), String(udpPort)]);
  return new Promise((resolve) => p.once('exit', () => resolve()));
}

function server(host: NsHost, name: string, port: number): Promise<{ kill: () => void }> {
  const p = host.spawn(['python3', TCP_PEER, 'serve', name, '::', String(port), 'echo']);
  return new Promise((resolve, reject) => {
    p.stdout!.once('data', () => resolve({ kill: () => p.kill('SIGKILL') }));
    p.once('exit', (code) => reject(new Error(`demo server ${name} exited with ${code}`)));
  });
}

/** Real connections between namespace hosts; returns their host names. */
async function liveTraffic(runId: string, tmp: string, procs: Proc[]): Promise<string[]> {
  sweepStaleLabs();
  const lab = NetnsLab.create(3);
  const [web, db, jump] = lab.hosts as [NsHost, NsHost, NsHost];
  const names = { web: `demo-web-${runId}`, db: `demo-db-${runId}`, jump: `demo-jump-${runId}` };
  const stops: Array<{ kill: () => void }> = [];
  try {
    web.sysctl('net.ipv4.tcp_syn_retries', 1);
    db.dropSyn(6000);
    const cfg = join(tmp, 'agent.yaml');
    writeFileSync(cfg, `host: demo-root
environment: lab
netns_hosts:
  ${web.path}: ${names.web}
  ${db.path}: ${names.db}
  ${jump.path}: ${names.jump}
spool:
  dir: ${join(tmp, 'spool')}
# Any free port: the demo's agent is short-lived and another agent may hold the default.
metrics:
  port: 0
# The demo stops its agent 2 s after the last client: a 1 s DNS timeout lets the
# never-answered query show up as a timeout rather than as cut short.
dns:
  timeout_s: 1
`);
    say('==> starting the agent (eBPF sensor -> Avro -> Kafka)');
    const agent = runCli(['agent', '--config', cfg]);
    procs.push(agent);
    await agent.waitForLog('sensor attached', 60_000);
    stops.push(await server(db, 'postgres', 5432), await server(web, 'sshd', 22), await server(db, 'sshd', 22), await dnsServer(db, DEMO_NAME, db.ip4));
    say(`==> making connections: ${names.web} -> ${names.db}:5432 (x5), :5433 refused, :6000 dropped, an abort; ${names.jump} -> ssh to both`);
    for (let i = 0; i < 5; i++) await client(web, 'order-svc', db.ip4, 5432);
    await client(web, 'order-svc', db.ip4, 5433);
    await client(web, 'order-svc', db.ip4, 6000);
    await client(web, 'order-svc', db.ip4, 5432, 'abort', 100);
    await client(web, 'order-svc', db.ip6, 5432);
    await client(jump, 'ssh', web.ip4, 22, 'normal', 300);
    await client(jump, 'ssh', db.ip4, 22, 'normal', 300);
    say(`==> ${names.web} resolves ${DEMO_NAME} at ${db.ip4}:53, then connects to it (TCP 5432) and sends UDP (5433)`);
    await resolvingClient(web, 'billing-svc', db.ip4, DEMO_NAME, 5432, 5433);
    // Let the final records of the server side close and reach Kafka.
    await new Promise((r) => setTimeout(r, 2000));
    await agent.stop('SIGTERM');
    return Object.values(names);
  } finally {
    for (const s of stops) s.kill();
    lab.destroy();
  }
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

const command: Command = {
  name: 'demo',
  summary: 'Run connaudit end to end here (services, sensor, Kafka, pipeline, Elasticsearch) and show the results',
  help: HELP,
  async run(argv) {
    const { values } = parse(argv, { 'no-storm': { type: 'boolean' }, keep: { type: 'boolean' } });
    const runId = Date.now().toString(36);
    const tmp = join(ROOT, '.run', 'demo', runId);
    mkdirSync(tmp, { recursive: true });
    const procs: Proc[] = [];
    const es = new Client(esClientOptions());
    try {
      say('==> connaudit services up');
      const up = runCli(['services', 'up']);
      up.child.stderr!.pipe(process.stderr);
      if ((await up.exited) !== 0) throw new UserError('the local services did not start (see above)', "run 'connaudit services status' and read the log file it names");

      say('==> starting the pipeline (config/pipeline.yaml: rules/, config/services.yaml)');
      const group = `connaudit-demo-${runId}`;
      const pipeline = runCli(['pipeline', '--config', 'config/pipeline.yaml', '--offset-reset', 'latest', '--group', group, '--state-dir', join(tmp, 'state')]);
      procs.push(pipeline);
      await pipeline.waitForLog(new RegExp(`"group":"${group}".*joined consumer group`), 120_000);

      // The storm happened "yesterday", the live traffic happens now: sending them in
      // that order keeps event time moving forward, as it does in production.
      let stormWindow: { from: string; to: string } | null = null;
      if (!values['no-storm']) {
        say("==> replaying the seed's SLO storm (connaudit slo storm | connaudit agent --replay)");
        const from = new Date(Date.now() - 24 * 3_600_000);
        from.setUTCMinutes(0, 0, 0);
        const file = join(tmp, 'storm.jsonl');
        const gen = runCli(['slo', 'storm', '--out', file, '--start', from.toISOString()]);
        if ((await gen.exited) !== 0) throw new UserError('connaudit slo storm failed', gen.stderr().slice(-2000));
        const replay = runCli(['agent', '--replay', file]);
        if ((await replay.exited) !== 0) throw new UserError('connaudit agent --replay failed', replay.stderr().slice(-2000));
        stormWindow = { from: from.toISOString(), to: new Date(from.getTime() + 8 * 3_600_000).toISOString() };
      }

      let hosts: string[];
      const noEbpf = canUseEbpf();
      if (noEbpf === null) {
        hosts = await liveTraffic(runId, tmp, procs);
      } else {
        say(`==> eBPF is not usable here (${noEbpf}); replaying recorded documents instead (connaudit agent --replay)`);
        const file = join(ROOT, 'test/fixtures/demo/connections.jsonl');
        const replay = runCli(['agent', '--replay', file]);
        if ((await replay.exited) !== 0) throw new UserError(`replaying ${file} failed`, replay.stderr().slice(-2000));
        hosts = ['demo-web', 'demo-db', 'demo-jump'];
      }

      say('==> waiting for Elasticsearch to have the documents');
      const hostFilter = { terms: { 'host.name': hosts } };
      const docs = await eventually('the demo connections in Elasticsearch', async () => {
        await es.indices.refresh({ index: INDEX_CONNECTIONS });
        const r = await es.search<ConnectionDoc>({ index: INDEX_CONNECTIONS, size: 80, query: hostFilter, sort: [{ '@timestamp': 'asc' }] });
        return r.hits.hits.length >= 8 ? r.hits.hits.map((h) => h._source!) : undefined;
      }, 60_000, 1000);
      await new Promise((r) => setTimeout(r, 3000));
      await es.indices.refresh({ index: [INDEX_CONNECTIONS, INDEX_ALERTS] });

      const rows = [['host.name', 'dir', 'process.name', 'destination', 'state', 'reason', 'latency_ms', 'bytes out/in', 'name (destination.domain / dns)']];
      const all = (await es.search<ConnectionDoc>({ index: INDEX_CONNECTIONS, size: 80, query: hostFilter, sort: [{ '@timestamp': 'asc' }] })).hits.hits.map((h) => h._source!);
      for (const d of all.length ? all : docs) {
        const name = d.dns ? `dns ${d.dns.question?.name} ${d.dns.question?.type} -> ${d.dns.response_code ?? 'no answer'} ${(d.dns.resolved_ip ?? []).join(',')}` : (d.destination.domain ?? '-');
        rows.push([d.host.name, d.network.direction, d.process?.name ?? '-', `${d.network.transport}/${d.destination.ip}:${d.destination.port}`, d.connaudit.conn_state,
          d.connaudit.close_reason, d.connaudit.connect_latency_ms?.toFixed(3) ?? '-', `${d.source.bytes ?? '-'}/${d.destination.bytes ?? '-'}`, name]);
      }
      process.stdout.write(`\nConnections indexed in ${INDEX_CONNECTIONS} from the demo hosts:\n${table(rows)}\n`);

      // The demo's alerts: those raised by its own documents, and the storm's.
      // (Other tools, such as the tests, may share this cluster.)
      const demoIds = (all.length ? all : docs).map((d) => d.event.id);
      const demoAlerts = { bool: { should: [
        { terms: { 'connaudit.alert.event_ids': demoIds } },
        ...(stormWindow ? [{ range: { '@timestamp': { gte: stormWindow.from, lte: stormWindow.to } } }] : []),
      ] } };
      const alerts = await es.search({ index: INDEX_ALERTS, size: 0, query: demoAlerts, aggs: { rules: { terms: { field: 'rule.name', size: 20 } } } });
      const buckets = (alerts.aggregations?.rules as { buckets: Array<{ key: string; doc_count: number }> } | undefined)?.buckets ?? [];
      process.stdout.write(`\nAlerts in ${INDEX_ALERTS}:\n${buckets.length ? table([['rule.name', 'count'], ...buckets.map((b) => [b.key, String(b.doc_count)])]) : '(none)'}\n`);

      if (stormWindow) {
        const slo = await es.search<{ event: { reason?: string } }>({ index: INDEX_ALERTS, size: 1, query: { bool: { filter: [{ term: { 'rule.category': 'slo_impact' } }, { range: { '@timestamp': { gte: stormWindow.from, lte: stormWindow.to } } }] } } });
        const reason = slo.hits.hits[0]?._source?.event.reason;
        process.stdout.write(`\nSLO impact: ${reason ?? 'no slo_impact alert yet (the pipeline may still be working; re-run the search below)'}\n`);
        const out = join(tmp, 'order-report.html');
        const rep = runCli(['report', '--service', 'order', '--from', stormWindow.from, '--to', stormWindow.to, '--out', out]);
        if ((await rep.exited) === 0) process.stdout.write(`Incident review report: ${out}\n`);
        else say(`report failed: ${rep.stderr().slice(-500)}`);
      }

      const esUrl = String(esClientOptions().node);
      process.stdout.write(`
Search it yourself (the seed's labels work under their exact names):
  curl -s '${esUrl}/${INDEX_CONNECTIONS}/_search?q=connection.state:REJ&pretty'
  curl -s '${esUrl}/${INDEX_CONNECTIONS}/_search?q=process.name:order-svc%20AND%20latency_ms:>0&pretty'
  curl -s '${esUrl}/${INDEX_ALERTS}/_search?q=slo.impact:user_impacting&pretty'
  curl -s '${esUrl}/${INDEX_CONNECTIONS}/_search?q=destination.domain:${DEMO_NAME}&pretty'
  curl -s '${esUrl}/${INDEX_CONNECTIONS}/_search?q=dns.response_code:NXDOMAIN&pretty'
Kibana: connaudit kibana import --url https://KIBANA:5601 (KIBANA_API_KEY or KIBANA_USERNAME/KIBANA_PASSWORD), or connaudit kibana export --out connaudit.ndjson and Stack Management > Saved objects > Import.
`);
      if (values.keep) {
        say('==> the pipeline keeps running (Ctrl-C to stop)');
        await procs[0]!.exited;
      }
      return 0;
    } finally {
      for (const p of procs.reverse()) await p.stop('SIGTERM', 20_000);
      await es.close();
    }
  },
};
export default command;
