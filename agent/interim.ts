import { F_CLOSED, F_UDP, TCP, visited, type CaEvent } from './event-decoder.js';

// Decides, from each walk of the socket-state map, which connections get an
// interim record now (open longer than the interval since start or since their
// last interim) and which closed sockets have waited too long for
// tcp_destroy_sock (owner holds a dead fd) and get their final record from the
// map instead. The later destroy-time record carries the same event_id (final
// ids do not depend on time), so the document converges instead of doubling.
// It runs in the sensor worker, next to the map walk, so only the entries that
// are due cross to the main thread, not the whole map every walk.
//
// UDP has no close handshake: a flow whose socket stays open ends when no
// datagram has passed either way for the idle timeout (Zeek's udp_inactivity
// timeout, 60 s by default). Its final record comes from this walk, which
// then deletes the entry (the worker sends the record only if that delete
// won against a concurrent socket release, which sends its own).

/** The fields of a map entry the schedule depends on. */
export type EntryFacts = Pick<CaEvent, 'sock_id' | 'start_ns' | 'end_ns' | 'flags' | 'states' | 'dport' | 'last_ns'>;

export interface Due<T extends EntryFacts = CaEvent> {
  ev: T;
  kind: 'final' | 'interim';
  atNs: bigint;
}

export interface Walk<T extends EntryFacts> {
  entries: T[];
  atNs: bigint;
}

export class InterimScheduler {
  private lastInterim = new Map<string, bigint>();
  private flushedFinal = new Set<string>();

  constructor(private readonly intervalNs: bigint, private readonly closedGraceNs = 10_000_000_000n, private readonly udpIdleNs = 60_000_000_000n) {}

  due<T extends EntryFacts>(s: Walk<T>): Array<Due<T>> {
    const out: Array<Due<T>> = [];
    const seen = new Set<string>();
    for (const ev of s.entries) {
      const udp = (ev.flags & F_UDP) !== 0;
      // A UDP socket has one entry per peer: the peer port tells them apart.
      const key = udp ? `${ev.sock_id}:${ev.start_ns}:${ev.dport}` : `${ev.sock_id}:${ev.start_ns}`;
      seen.add(key);
      if (udp) {
        if (s.atNs - ev.last_ns >= this.udpIdleNs) {
          // The flow ended with its last datagram, not when the walk noticed.
          out.push({ ev, kind: 'final', atNs: ev.last_ns });
          continue;
        }
      } else if (ev.flags & F_CLOSED) {
        if (s.atNs - ev.end_ns >= this.closedGraceNs && !this.flushedFinal.has(key)) {
          this.flushedFinal.add(key);
          out.push({ ev, kind: 'final', atNs: ev.end_ns });
        }
        continue;
      }
      // Only an established connection is "open". An attempt still waiting
      // for its SYN-ACK gets its one final record (S0 or REJ) when it gives
      // up, so counting rules (scans, retry storms) never see it twice.
      if (!udp && !visited(ev, TCP.ESTABLISHED)) continue;
      const last = this.lastInterim.get(key) ?? ev.start_ns;
      if (s.atNs - last >= this.intervalNs) {
        this.lastInterim.set(key, s.atNs);
        out.push({ ev, kind: 'interim', atNs: s.atNs });
      }
    }
    for (const k of this.lastInterim.keys()) if (!seen.has(k)) this.lastInterim.delete(k);
    for (const k of this.flushedFinal) if (!seen.has(k)) this.flushedFinal.delete(k);
    return out;
  }
}
