import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { rng } from './rng.js';
import { synthDoc, type ConnSpec } from './synth.js';

// The quiet half of the rule evidence: what an ordinary fleet does all day,
// written by a seeded generator so the corpus is reviewable as code and the
// same seed always gives the same files. Every shipped rule must stay silent
// on it (`connaudit rules test`); when a rule fires here, the rule is tuned,
// not the corpus.
//
// Two files, because the rules fail in two different ways on real fleets:
// - fleet-week.jsonl: five days, so the new_terms rules (3-day learning) are
//   judged after their baseline, on the same routines repeating;
// - fleet-busy-hour.jsonl: one hour at real scrape, probe and query rates,
//   so the threshold and value_count rules see real densities.
//
// Run: node dist/tools/gen/benign-fleet.js [repoRoot] [seed]

const T0 = Date.parse('2025-03-03T00:00:00Z');
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** Extra fields the synthetic document builder does not know: user, parent. */
interface Spec extends ConnSpec {
  uid?: number;
  parent?: string;
  /** the behaviour that produced this event (kept out of the document; used for the summary) */
  behaviour: string;
}

// The fleet. Addresses are RFC 1918 (internal) except the internet services.
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const APPS = range(20).map((i) => ({ host: `app-${i + 1}`, ip: `10.60.4.${i + 1}` }));
const DBS = [{ host: 'db-1', ip: '10.60.5.1' }, { host: 'db-2', ip: '10.60.5.2' }];
const NODES = range(8).map((i) => ({ host: `node-${i + 1}`, ip: `10.70.0.${i + 1}` }));
const CI = range(3).map((i) => ({ host: `ci-${i + 1}`, ip: `10.0.7.${i + 1}` }));
const RESOLVERS = [{ host: 'dns-1', ip: '10.0.0.53' }, { host: 'dns-2', ip: '10.0.1.53' }];
const NTP = [{ host: 'ntp-1', ip: '10.0.3.1' }, { host: 'ntp-2', ip: '10.0.3.2' }];
const MON = { host: 'mon-1', ip: '10.0.2.1' };
const BACKUP = { host: 'backup-1', ip: '10.0.5.10' };
const MIRROR = { host: 'mirror-1', ip: '10.0.6.20' };
const BASTION = { host: 'bastion-1', ip: '10.0.0.5' };
const GIT = { host: 'git-1', ip: '10.0.7.10' };
const APISERVER = { host: 'k8s-api', ip: '10.70.0.100' };
const LAPTOPS = range(12).map((i) => ({ host: `laptop-${i + 1}`, ip: `10.80.0.${i + 10}` }));
const SERVERS = [...APPS, ...DBS, ...NODES, ...CI, ...RESOLVERS, ...NTP, BACKUP, MIRROR, GIT];
// Internet services come from small stable address pools (anycast/CDN front
// ends), each address used every day, so a first-seen rule learns them.
const UPSTREAM_DNS = ['9.9.9.9', '149.112.112.112'];
const NTS_SERVERS = ['162.159.200.1', '162.159.200.123'];
const DEBIAN_CDN = ['151.101.2.132', '151.101.66.132', '151.101.130.132', '151.101.194.132'];
const REGISTRY = ['52.1.184.176', '54.156.140.159', '3.216.34.172', '44.205.64.79'];
const PAYMENT_GW = ['198.51.100.20', '198.51.100.21'];
const VPN_GW = '198.51.100.77';
const LOGHOST = { host: 'log-1', ip: '10.0.4.20' };
// The names behind those pools, as the agent's DNS cache gives them, and the
// external domains the order service declares in the catalogue.
const NAMES = { payment: 'api.paygw.example', registry: 'registry-1.docker.io', debian: 'deb.debian.org', upstreamDns: 'dns.quad9.net', nts: 'time.cloudflare.com' };
const ORDER_DEPENDENCY_DOMAINS = ['paygw.example'];

class Gen {
  readonly out: Spec[] = [];
  private seq = 0;
  constructor(readonly rand: () => number) {}
  jitter(ms: number): number {
    return Math.floor(this.rand() * ms);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }
  /** One connection, seen by the initiator (egress) and, when `both`, by the responder (ingress). */
  conn(s: Omit<Spec, 'seq' | 'dir' | 'host'> & { from: string; to?: string }, both = false): void {
    const seq = ++this.seq;
    const { from, to, ...rest } = s;
    this.out.push({ ...rest, host: from, dir: 'egress', seq });
    if (both && to) this.out.push({ ...rest, host: to, dir: 'ingress', seq, proc: INGRESS_PROC[rest.dport] ?? rest.proc });
  }
}

/** The process that accepted a connection on a port (the listening socket's owner). */
const INGRESS_PROC: Record<number, string> = { 22: 'sshd', 53: 'unbound', 5432: 'postgres', 9100: 'node_exporter', 9187: 'postgres_exporter', 8080: 'app-server', 3142: 'apt-cacher-ng', 443: 'nginx', 6443: 'kube-apiserver' };

type Behaviour = (g: Gen, from: number, to: number, rate: number) => void;

/** Hosts ask the internal resolvers over TCP (large answers, truncation fallback); the resolvers forward over DNS-over-TLS. */
const dns: Behaviour = (g, from, to, rate) => {
  const every = 10 * MIN / rate;
  for (let t = from; t < to; t += every) {
    for (const h of [...APPS, ...CI, ...NODES]) {
      if (g.rand() > 0.3) continue;
      const r = g.pick(RESOLVERS);
      g.conn({ behaviour: 'internal-dns', t: t + g.jitter(every), from: h.host, to: r.host, src: h.ip, dst: r.ip, dport: 53, proc: 'systemd-resolve', uid: 101, durationMs: 5 + g.jitter(20), latencyMs: 0.3, srcBytes: 60, dstBytes: 900 + g.jitter(600) }, true);
    }
    for (const r of RESOLVERS) {
      for (const up of UPSTREAM_DNS) g.conn({ behaviour: 'internal-dns', t: t + g.jitter(every), from: r.host, src: r.ip, dst: up, domain: NAMES.upstreamDns, dport: 853, proc: 'unbound', uid: 102, external: true, durationMs: 30_000, latencyMs: 8 + g.jitter(10), srcBytes: 4000, dstBytes: 12_000 });
    }
  }
};

/** The internal time servers refresh their NTS keys (NTS-KE, TCP 4460); hosts sync to them over UDP (ntpUdp). */
const ntp: Behaviour = (g, from, to) => {
  for (let t = from; t < to; t += 6 * HOUR) {
    for (const s of NTP) for (const up of NTS_SERVERS) g.conn({ behaviour: 'ntp', t: t + g.jitter(10 * MIN), from: s.host, src: s.ip, dst: up, domain: NAMES.nts, dport: 4460, proc: 'chronyd', uid: 103, external: true, durationMs: 80, latencyMs: 12 + g.jitter(8), srcBytes: 300, dstBytes: 1800 });
  }
};

/** Prometheus scrapes node_exporter on every server and the postgres exporter on the databases; one decommissioned target stays in the config. */
const monitoring: Behaviour = (g, from, to, rate) => {
  const every = 60 * SEC / rate;
  for (let t = from; t < to; t += every) {
    for (const h of SERVERS) {
      g.conn({ behaviour: 'monitoring-scrape', t: t + g.jitter(2 * SEC), from: MON.host, to: h.host, src: MON.ip, dst: h.ip, dport: 9100, proc: 'prometheus', uid: 65534, durationMs: 15 + g.jitter(30), latencyMs: 0.3 + g.rand(), srcBytes: 250, dstBytes: 60_000 + g.jitter(20_000) }, true);
    }
    for (const d of DBS) g.conn({ behaviour: 'monitoring-scrape', t: t + g.jitter(2 * SEC), from: MON.host, to: d.host, src: MON.ip, dst: d.ip, dport: 9187, proc: 'prometheus', uid: 65534, durationMs: 40, latencyMs: 0.4, srcBytes: 250, dstBytes: 20_000 }, true);
    // the stale target: nothing answers, the SYN times out
    g.conn({ behaviour: 'monitoring-scrape', t: t + g.jitter(2 * SEC), from: MON.host, src: MON.ip, dst: '10.60.4.99', dport: 9100, proc: 'prometheus', uid: 65534, state: 'S0', synRetrans: 2, durationMs: 3000 });
  }
};

/** Nightly borg backups pushed over SSH to the backup server, one host after the other. */
const backups: Behaviour = (g, from, to) => {
  for (let night = Math.floor(from / DAY) * DAY + HOUR; night < to; night += DAY) {
    if (night < from) continue;
    [...APPS, ...DBS, GIT].forEach((h, i) => {
      g.conn({ behaviour: 'backup', t: night + i * 2 * MIN + g.jitter(MIN) + 20 * MIN, from: h.host, to: BACKUP.host, src: h.ip, dst: BACKUP.ip, dport: 22, proc: 'ssh', parent: 'borg', uid: 0, durationMs: 10 * MIN + g.jitter(5 * MIN), latencyMs: 0.5, srcBytes: 200_000_000 + g.jitter(50_000_000), dstBytes: 400_000 }, true);
    });
  }
};

/** apt on every host goes through the internal apt-cacher-ng mirror, which fetches from the Debian CDN. */
const packageMirror: Behaviour = (g, from, to) => {
  for (let day = from; day < to; day += DAY) {
    for (const h of [...APPS, ...DBS, ...CI, ...NODES]) {
      g.conn({ behaviour: 'package-mirror', t: day + 6 * HOUR + g.jitter(HOUR), from: h.host, to: MIRROR.host, src: h.ip, dst: MIRROR.ip, dport: 3142, proc: 'http', parent: 'apt-get', uid: 42, durationMs: 2000 + g.jitter(5000), latencyMs: 0.4, srcBytes: 3000, dstBytes: 2_000_000 + g.jitter(8_000_000) }, true);
    }
    // the mirror refreshes from every CDN address of its pool each day
    for (const [i, ip] of DEBIAN_CDN.entries()) {
      for (const port of [80, 443]) g.conn({ behaviour: 'package-mirror', t: day + 5 * HOUR + i * 5 * MIN + g.jitter(MIN), from: MIRROR.host, src: MIRROR.ip, dst: ip, domain: NAMES.debian, dport: port, proc: 'apt-cacher-ng', uid: 105, external: true, durationMs: 20_000 + g.jitter(30_000), latencyMs: 9 + g.jitter(6), srcBytes: 40_000, dstBytes: 50_000_000 });
    }
  }
};

/** Engineers reach servers through the bastion during working hours; an Ansible run from the bastion touches every app host at once. */
const bastionSsh: Behaviour = (g, from, to, rate) => {
  for (let day = Math.floor(from / DAY) * DAY; day < to; day += DAY) {
    const sessions = Math.round(25 * rate);
    for (let i = 0; i < sessions; i++) {
      const start = day + 8 * HOUR + g.jitter(9 * HOUR);
      if (start < from || start >= to) continue;
      const l = g.pick(LAPTOPS);
      const target = g.pick([...APPS, ...DBS]);
      const len = 5 * MIN + g.jitter(40 * MIN);
      g.conn({ behaviour: 'bastion-ssh', t: start + len + MIN, from: l.host, to: BASTION.host, src: l.ip, dst: BASTION.ip, dport: 22, proc: 'ssh', uid: 1000, durationMs: len + MIN, latencyMs: 2, srcBytes: 50_000, dstBytes: 400_000 }, true);
      g.conn({ behaviour: 'bastion-ssh', t: start + len, from: BASTION.host, to: target.host, src: BASTION.ip, dst: target.ip, dport: 22, proc: 'ssh', parent: 'bash', uid: 1000 + (i % 12), durationMs: len, latencyMs: 0.4, srcBytes: 40_000, dstBytes: 300_000 }, true);
    }
    const ansible = day + 14 * HOUR;
    if (ansible >= from && ansible < to) {
      for (const h of APPS) g.conn({ behaviour: 'bastion-ssh', t: ansible + 40 * SEC + g.jitter(20 * SEC), from: BASTION.host, to: h.host, src: BASTION.ip, dst: h.ip, dport: 22, proc: 'ssh', parent: 'ansible-playboo', uid: 1001, durationMs: 30 * SEC, latencyMs: 0.4, srcBytes: 90_000, dstBytes: 20_000 }, true);
    }
  }
};

/** CI runners fetch from the git server over SSH and HTTPS, pull images from the registry, and deploy to the Kubernetes API. */
const ciRunners: Behaviour = (g, from, to, rate) => {
  const every = 20 * MIN / rate;
  let n = 0;
  for (let t = from; t < to; t += every) {
    const r = CI[n % CI.length]!;
    const at = t + g.jitter(every / 2);
    g.conn({ behaviour: 'ci-runner', t: at, from: r.host, to: GIT.host, src: r.ip, dst: GIT.ip, dport: 22, proc: 'ssh', parent: 'git', uid: 999, durationMs: 4000 + g.jitter(4000), latencyMs: 0.5, srcBytes: 5000, dstBytes: 30_000_000 }, true);
    g.conn({ behaviour: 'ci-runner', t: at + 2 * SEC, from: r.host, to: GIT.host, src: r.ip, dst: GIT.ip, dport: 443, proc: 'gitlab-runner', uid: 999, durationMs: 500, latencyMs: 0.5, srcBytes: 2000, dstBytes: 8000 }, true);
    // round robin over the registry's front ends, so each is seen every day
    g.conn({ behaviour: 'ci-runner', t: at + 10 * SEC, from: r.host, src: r.ip, dst: REGISTRY[n % REGISTRY.length]!, domain: NAMES.registry, dport: 443, proc: 'dockerd', uid: 0, external: true, durationMs: 15_000 + g.jitter(20_000), latencyMs: 20 + g.jitter(30), srcBytes: 30_000, dstBytes: 300_000_000 });
    if (n % 3 === 0) g.conn({ behaviour: 'ci-runner', t: at + 5 * MIN, from: r.host, to: APISERVER.host, src: r.ip, dst: APISERVER.ip, dport: 6443, proc: 'kubectl', uid: 999, durationMs: 3000, latencyMs: 0.6, srcBytes: 20_000, dstBytes: 40_000 }, true);
    n++;
  }
};

/** The kubelet on each node probes its pods' health endpoints; during a rollout a new pod refuses probes until it listens. */
const k8sHealth: Behaviour = (g, from, to, rate) => {
  const every = 60 * SEC / rate;
  for (let t = from; t < to; t += every) {
    for (const [ni, node] of NODES.entries()) {
      for (let p = 2; p < 10; p++) {
        const rollout = g.rand() < 0.01;
        g.conn({ behaviour: 'k8s-health', t: t + g.jitter(5 * SEC), from: node.host, src: node.ip, dst: `10.244.${ni + 1}.${p}`, dport: 8080, proc: 'kubelet', uid: 0, state: rollout ? 'REJ' : 'SF', durationMs: rollout ? 1 : 3, latencyMs: 0.1, nodeGroup: 'k8s-pool', srcBytes: 120, dstBytes: rollout ? 0 : 180 });
      }
      g.conn({ behaviour: 'k8s-health', t: t + g.jitter(5 * SEC), from: node.host, to: APISERVER.host, src: node.ip, dst: APISERVER.ip, dport: 6443, proc: 'kubelet', uid: 0, durationMs: 30 * SEC, latencyMs: 0.5, nodeGroup: 'k8s-pool', srcBytes: 4000, dstBytes: 9000 });
    }
  }
};

/** The order service: its database, its peers, the payment gateway; the standby database streams WAL from the primary. */
const services: Behaviour = (g, from, to, rate) => {
  const every = 20 * SEC / rate;
  let n = 0;
  for (let t = from; t < to; t += every) {
    const a = APPS[n % 10]!;
    const slow = g.rand() < 0.002;
    g.conn({ behaviour: 'service-traffic', t: t + g.jitter(every), from: a.host, to: DBS[0]!.host, src: a.ip, dst: DBS[0]!.ip, dport: 5432, proc: 'order-svc', service: 'order', nodeGroup: 'pool-a', uid: 1500, durationMs: 200 + g.jitter(2000), latencyMs: slow ? 600 : 0.3 + g.rand(), srcBytes: 3000, dstBytes: 40_000 }, true);
    const peer = APPS[10 + (n % 10)]!;
    // keep-alive connections to peers are occasionally torn down with a reset by the client's pool
    const reset = g.rand() < 0.02;
    g.conn({ behaviour: 'service-traffic', t: t + g.jitter(every), from: a.host, to: peer.host, src: a.ip, dst: peer.ip, dport: 8080, proc: 'order-svc', service: 'order', nodeGroup: 'pool-a', uid: 1500, state: reset ? 'RSTO' : 'SF', rstSent: reset ? 1 : 0, durationMs: 1000 + g.jitter(60_000), latencyMs: 0.4, srcBytes: 12_000, dstBytes: 30_000 }, true);
    if (n % 6 === 0) g.conn({ behaviour: 'service-traffic', t: t + g.jitter(every), from: a.host, src: a.ip, dst: PAYMENT_GW[n % 2]!, domain: NAMES.payment, dependencyDomains: ORDER_DEPENDENCY_DOMAINS, dport: 443, proc: 'order-svc', service: 'order', nodeGroup: 'pool-a', uid: 1500, external: true, durationMs: 400 + g.jitter(400), latencyMs: 25 + g.jitter(20), srcBytes: 4000, dstBytes: 6000 });
    n++;
  }
  // WAL streaming: one long connection per hour (reconnects after network blips)
  for (let t = from; t < to; t += HOUR) {
    g.conn({ behaviour: 'service-traffic', t: t + HOUR - 1, from: DBS[1]!.host, to: DBS[0]!.host, src: DBS[1]!.ip, dst: DBS[0]!.ip, dport: 5432, proc: 'postgres', parent: 'postgres', uid: 106, durationMs: HOUR - 2, latencyMs: 0.3, srcBytes: 100_000, dstBytes: 900_000_000 }, true);
  }
};

/**
 * DNS over UDP, one DNS record per query: the order service resolves its
 * payment gateway and its database; CI runners resolve the registry; pods on
 * the Kubernetes nodes walk their search list first (ndots:5), so each
 * external lookup brings three NXDOMAINs under cluster.local; now and then a
 * laptop-era name (wpad) gets a public NXDOMAIN.
 */
const dnsUdp: Behaviour = (g, from, to, rate) => {
  const every = 5 * MIN / rate;
  const q = (h: { host: string; ip: string }, t: number, proc: string, qname: string, ips: string[] | null, extra: Partial<Spec> = {}): void => {
    const r = g.pick(RESOLVERS);
    g.conn({ behaviour: 'dns-udp', t, from: h.host, src: h.ip, dst: r.ip, dport: 53, transport: 'udp', proc, uid: 101, durationMs: 1 + g.jitter(3), dns: ips ? { qname, ips } : { qname, rcode: 'NXDOMAIN' }, ...extra });
  };
  for (let t = from; t < to; t += every) {
    for (const a of APPS.slice(0, 10)) {
      const at = t + g.jitter(every);
      const order = { service: 'order', nodeGroup: 'pool-a', uid: 1500 };
      q(a, at, 'order-svc', NAMES.payment, PAYMENT_GW, order);
      q(a, at + 50, 'order-svc', 'db-1.corp.internal', [DBS[0]!.ip], order);
      if (g.rand() < 0.02) q(a, at + 100, 'systemd-resolve', 'wpad.corp.example', null);
    }
    for (const c of CI) {
      const at = t + g.jitter(every);
      q(c, at, 'dockerd', NAMES.registry, [g.pick(REGISTRY)]);
      q(c, at + 20, 'dockerd', 'auth.docker.io', [g.pick(REGISTRY)]);
    }
    for (const [ni, node] of NODES.entries()) {
      const at = t + g.jitter(every);
      const pod = { host: node.host, ip: `10.244.${ni + 1}.${2 + Math.floor(g.rand() * 8)}` };
      ['default.svc.cluster.local', 'svc.cluster.local', 'cluster.local'].forEach((sfx, i) => q(pod, at + i * 2, 'order-svc', `${NAMES.payment}.${sfx}`, null, { nodeGroup: 'k8s-pool' }));
      q(pod, at + 8, 'order-svc', NAMES.payment, PAYMENT_GW, { nodeGroup: 'k8s-pool' });
    }
  }
};

/** Every server syncs its clock with the internal NTP servers over UDP; those ask the public NTS servers' NTP (UDP 123). */
const ntpUdp: Behaviour = (g, from, to, rate) => {
  const every = 17 * MIN / rate;
  for (let t = from; t < to; t += every) {
    for (const h of SERVERS) {
      const s = g.pick(NTP);
      g.conn({ behaviour: 'ntp-udp', t: t + g.jitter(every), from: h.host, to: s.host, src: h.ip, dst: s.ip, dport: 123, sport: 123, transport: 'udp', proc: 'chronyd', uid: 103, durationMs: 2, srcBytes: 48, dstBytes: 48 }, true);
    }
    for (const s of NTP) for (const up of NTS_SERVERS) g.conn({ behaviour: 'ntp-udp', t: t + g.jitter(every), from: s.host, src: s.ip, dst: up, domain: NAMES.nts, dport: 123, transport: 'udp', proc: 'chronyd', uid: 103, external: true, durationMs: 15, srcBytes: 48, dstBytes: 48 });
  }
};

/**
 * Servers ship logs to the log host over syslog/UDP (never answered: S0), in
 * flows the idle timeout closes every few minutes; laptops keep a VPN tunnel
 * over UDP 443 to the office gateway, hundreds of MB a day.
 */
const udpBulk: Behaviour = (g, from, to, rate) => {
  const every = 10 * MIN / rate;
  for (let t = from; t < to; t += every) {
    for (const h of [...APPS, ...DBS]) g.conn({ behaviour: 'udp-bulk', t: t + g.jitter(every), from: h.host, src: h.ip, dst: LOGHOST.ip, dport: 514, transport: 'udp', state: 'S0', proc: 'rsyslogd', uid: 104, durationMs: every, srcBytes: 200_000 + g.jitter(400_000), srcPackets: 900 + g.jitter(900) });
  }
  for (let day = Math.floor(from / DAY) * DAY; day < to; day += DAY) {
    for (const l of LAPTOPS) {
      const end = day + 18 * HOUR + g.jitter(HOUR);
      if (end >= from && end < to) g.conn({ behaviour: 'udp-bulk', t: end, from: l.host, src: l.ip, dst: VPN_GW, dport: 443, transport: 'udp', proc: 'openvpn', uid: 0, external: true, durationMs: 9 * HOUR, srcBytes: 150_000_000 + g.jitter(100_000_000), dstBytes: 600_000_000, srcPackets: 200_000, dstPackets: 500_000 });
    }
  }
};

export const BEHAVIOURS: Record<string, Behaviour> = { 'internal-dns': dns, ntp, 'monitoring-scrape': monitoring, backup: backups, 'package-mirror': packageMirror, 'bastion-ssh': bastionSsh, 'ci-runner': ciRunners, 'k8s-health': k8sHealth, 'service-traffic': services,
  // Last, so adding them left every earlier behaviour's random draws (and the corpus they wrote) as they were.
  'dns-udp': dnsUdp, 'ntp-udp': ntpUdp, 'udp-bulk': udpBulk };

function toDoc(s: Spec): ConnectionDoc {
  const d = synthDoc(s);
  if (s.uid !== undefined) d.user = { id: String(s.uid) };
  if (s.parent && d.process) d.process.parent = { name: s.parent };
  return d;
}

export interface Corpus {
  name: string;
  docs: ConnectionDoc[];
  /** events per behaviour */
  counts: Record<string, number>;
}

/** Each behaviour's frequency as a share of its real one (1 = real rate). */
type Rates = Partial<Record<keyof typeof BEHAVIOURS, number>>;

function build(name: string, seed: number, from: number, to: number, rates: Rates): Corpus {
  const g = new Gen(rng(seed));
  for (const [k, b] of Object.entries(BEHAVIOURS)) b(g, from, to, rates[k] ?? 1);
  const specs = g.out.filter((s) => s.t >= from && s.t < to).sort((a, b) => a.t - b.t || (a.seq ?? 0) - (b.seq ?? 0));
  const counts: Record<string, number> = {};
  for (const s of specs) counts[s.behaviour] = (counts[s.behaviour] ?? 0) + 1;
  return { name, docs: specs.map(toDoc), counts };
}

/** The shipped corpus: a week-long sparse view and one dense hour, from one seed. */
export function benignFleet(seed = 20250303): Corpus[] {
  return [
    // The high-rate routines are thinned (one scrape round every 2 h, one probe
    // round every 4 h, a twentieth of the service calls) so five days stay near
    // 12k events; daily and nightly routines keep their real schedule.
    build('fleet-week', seed, T0, T0 + 5 * DAY, { 'monitoring-scrape': 1 / 120, 'k8s-health': 1 / 240, 'service-traffic': 0.04, 'internal-dns': 0.1, 'ci-runner': 0.25, 'dns-udp': 0.05, 'ntp-udp': 0.05, 'udp-bulk': 0.05 }),
    // 10:00-11:00 on the fifth day, at full rate
    build('fleet-busy-hour', seed + 1, T0 + 4 * DAY + 10 * HOUR, T0 + 4 * DAY + 11 * HOUR, {}),
  ];
}

export function writeBenignFleet(root: string, seed?: number): Corpus[] {
  const dir = join(root, 'test', 'fixtures', 'benign');
  mkdirSync(dir, { recursive: true });
  const corpora = benignFleet(seed);
  for (const c of corpora) writeFileSync(join(dir, `${c.name}.jsonl`), `${c.docs.map((d) => JSON.stringify(d)).join('\n')}\n`);
  return corpora;
}

if (process.argv[1]?.endsWith('benign-fleet.js')) {
  const corpora = writeBenignFleet(process.argv[2] ?? process.cwd(), process.argv[3] ? Number(process.argv[3]) : undefined);
  for (const c of corpora) process.stderr.write(`${c.name}.jsonl: ${c.docs.length} events ${JSON.stringify(c.counts)}\n`);
}
