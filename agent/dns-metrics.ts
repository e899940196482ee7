import { Counter, Gauge, type Registry } from 'prom-client';
import { AGENT_METRICS as M } from '../lib/names.js';
import type { DnsCounters } from './dns-tracker.js';

// /metrics for the DNS side, read at scrape time from the cumulative
// counters (kernel and agent), like agent/metrics.ts does for connections.

/** A labelled counter mirroring cumulative values: each label set grows by what it grew since the last scrape. */
function mirrorLabelled(registry: Registry, name: string, help: string, label: string, read: () => Record<string, number> | null): void {
  const last = new Map<string, number>();
  new Counter({
    name, help, labelNames: [label], registers: [registry],
    collect() {
      for (const [k, v] of Object.entries(read() ?? {})) {
        const prev = last.get(k) ?? 0;
        // Present at 0 too, so an alert on the series exists before the first loss.
        this.inc({ [label]: k }, Math.max(0, v - prev));
        last.set(k, Math.max(v, prev));
      }
    },
  });
}

export function registerDnsMetrics(registry: Registry, read: () => DnsCounters | null): void {
  mirrorLabelled(registry, M.dnsMessages, 'DNS messages the sensor read on port 53, by kind', 'kind', () => {
    const k = read()?.kernel;
    return k ? { query: k.queries, answer: k.answers } : null;
  });
  mirrorLabelled(registry, M.dnsDropped, 'DNS messages on port 53 that became no record, by reason (ring_full is loss)', 'reason', () => {
    const c = read();
    if (!c) return null;
    const k = c.kernel;
    return {
      ring_full: k?.ringbufDrops ?? 0, not_dns: k?.parseErrors ?? 0, tcp_continuation: k?.tcpSkipped ?? 0,
      filtered: k?.filtered ?? 0, unreadable_in_agent: c.unreadable,
    };
  });
  mirrorLabelled(registry, M.dnsTransactions, 'DNS records written, by outcome (answered, timeout, overflow, stopped, orphan)', 'outcome', () => {
    const j = read()?.join;
    return j ? { answered: j.answered, timeout: j.timeout, overflow: j.overflow, stopped: j.stopped, orphan: j.orphan } : null;
  });
  const gauge = (name: string, help: string, f: (c: DnsCounters) => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { const c = read(); if (c) this.set(f(c)); } });
  };
  let lastOwner = 0;
  new Counter({ name: M.dnsOwnerNotStored, help: 'Sockets sending to port 53 whose process could not be stored (their DNS records lack process.*)', registers: [registry],
    collect() { const k = read()?.kernel; if (k && k.ownerNomem > lastOwner) { this.inc(k.ownerNomem - lastOwner); lastOwner = k.ownerNomem; } } });
  gauge(M.dnsPending, 'DNS queries waiting for their answer now', (c) => c.pending);
  gauge(M.dnsCacheEntries, 'Address -> name entries in the DNS cache now', (c) => c.cacheEntries);
  let lastEv = 0;
  let lastNamed = 0;
  new Counter({ name: M.dnsCacheEvictions, help: 'DNS cache entries pushed out before their TTL (raise dns.cache_entries if this grows)', registers: [registry],
    collect() { const c = read(); if (c && c.cacheEvictions > lastEv) { this.inc(c.cacheEvictions - lastEv); lastEv = c.cacheEvictions; } } });
  new Counter({ name: M.dnsNamed, help: 'Connection records that got destination.domain from the DNS cache', registers: [registry],
    collect() { const c = read(); if (c && c.named > lastNamed) { this.inc(c.named - lastNamed); lastNamed = c.named; } } });
}
