import { createWriteStream } from 'node:fs';
import { synthDoc, type ConnSpec } from '../gen/synth.js';
import { rng } from '../gen/rng.js';

// A realistic input for the backtest throughput benchmark: a 200-host fleet
// over four days (service calls, database traffic, internet egress, DNS,
// Prometheus scraping every host, bastion SSH, resets and slow connects; DNS
// lookups and NTP over UDP), with
// a few attacks mixed in (fan-out, scan, pivot chain, odd egress) so every
// rule type does real work. Deterministic (seeded), so runs are comparable.
// Run: node dist/tools/bench/fleet-gen.js OUT.jsonl [events=1000000]

const T0 = Date.parse('2025-03-03T00:00:00Z');
const SPAN = 4 * 86_400_000;


export function benchSpec(i: number, n: number, r: () => number): ConnSpec {
  const t = T0 + Math.floor((i / n) * SPAN);
  const h = Math.floor(r() * 200);
  const host = `${['order-a', 'order-b', 'order-c', 'db', 'app'][h % 5]}-${h}`;
  const src = `10.20.${h >> 8}.${h & 255}`;
  const nodeGroup = ['pool-a', 'pool-b', 'pool-c', 'data', 'apps'][h % 5]!;
  const x = r();
  const seq = i;
  if (x < 0.55) return { t, host, src, dst: `10.40.0.${Math.floor(r() * 20)}`, dport: [5432, 8080, 8443, 6379][Math.floor(r() * 4)]!, proc: 'order-svc', service: 'order', nodeGroup, latencyMs: r() < 0.001 ? 800 : 1 + r() * 5, state: r() < 0.01 ? 'RSTR' : 'SF', seq };
  if (x < 0.7) return { t, host: `db-${h % 10}`, dir: 'ingress', src, dst: `10.40.0.${h % 10}`, dport: 5432, proc: 'postgres', nodeGroup: 'data', seq };
  if (x < 0.8) return { t, host, src, dst: `93.184.${Math.floor(r() * 4)}.${Math.floor(r() * 50)}`, dport: 443, proc: r() < 0.9 ? 'order-svc' : 'curl', service: 'order', external: true, nodeGroup, seq };
  if (x < 0.88) {
    // A third each: DNS over TCP, DNS lookups over UDP (DNS records), NTP flows over UDP. Chosen by seq, not by
    // a random draw, so the rest of the stream is the same as before UDP and DNS records existed.
    const resolver = r() < 0.5 ? '10.0.0.53' : '10.0.1.53';
    if (seq % 3 === 1) return { t, host, src, dst: resolver, dport: 53, proc: 'order-svc', service: 'order', nodeGroup, seq, dns: { qname: `api${seq % 7}.paygw.example`, ips: [`198.51.100.${seq % 7}`] } };
    if (seq % 3 === 2) return { t, host, src, dst: '10.0.3.1', dport: 123, sport: 123, transport: 'udp', domain: 'ntp.corp.example', proc: 'chronyd', nodeGroup, seq, srcBytes: 48, dstBytes: 48 };
    return { t, host, src, dst: resolver, dport: 53, proc: 'systemd-resolve', nodeGroup, seq };
  }
  if (x < 0.96) return { t, host: 'mon-1', src: '10.0.2.1', dst: src, dport: 9100, proc: 'prometheus', seq };
  if (x < 0.99) return { t, host: 'bastion-1', src: '10.0.0.5', dst: src, dport: 22, proc: 'ssh', durationMs: 60_000, seq };
  // attacks and oddities: fan-out / scan / pivot / unusual egress from a few hosts
  const y = r();
  if (y < 0.4) return { t, host: 'ws-7', src: '10.50.0.7', dst: `10.20.0.${Math.floor(r() * 200)}`, dport: [22, 445, 3389][Math.floor(r() * 3)]!, proc: 'ssh', state: r() < 0.5 ? 'S0' : 'SF', seq };
  if (y < 0.7) return { t, host: 'ws-9', src: '10.50.0.9', dst: `10.20.1.${Math.floor(r() * 250)}`, dport: Math.floor(r() * 1024), proc: 'nmap', state: 'REJ', seq };
  if (y < 0.85) return { t, host, src, dst: `10.20.${(h + 1) >> 8}.${(h + 1) & 255}`, dport: 22, proc: 'ssh', durationMs: 120_000, seq };
  return { t, host, src, dst: `198.51.100.${Math.floor(r() * 250)}`, dport: 4444 + Math.floor(r() * 10), proc: 'bash', external: true, service: 'order', seq };
}

async function main(out: string, n: number): Promise<void> {
  const r = rng(42);
  const w = createWriteStream(out);
  let buf = '';
  for (let i = 0; i < n; i++) {
    buf += `${JSON.stringify(synthDoc(benchSpec(i, n, r)))}\n`;
    if (buf.length > 1 << 20) {
      if (!w.write(buf)) await new Promise<void>((res) => w.once('drain', () => res()));
      buf = '';
    }
    if (i % 100_000 === 0 && i > 0) process.stderr.write(`generated ${i}/${n}\n`);
  }
  w.write(buf);
  await new Promise<void>((res) => w.end(() => res()));
  process.stderr.write(`wrote ${n} events to ${out}\n`);
}

if (process.argv[1]?.endsWith('fleet-gen.js')) {
  const [out, n] = process.argv.slice(2);
  if (!out) {
    process.stderr.write('usage: node dist/tools/bench/fleet-gen.js OUT.jsonl [events]\n');
    process.exit(2);
  }
  await main(out, Number(n ?? 1_000_000));
}
