import type { CloseReason, ConnState } from '../lib/record.js';
import { F_ACTIVE, F_CLOSED, F_RST_SENT_FIRST, F_UDP, TCP, visited, type CaEvent } from './event-decoder.js';

// Zeek conn_state and connaudit close_reason from the raw facts the kernel
// side records (visited states, RST counters and who reset first, sk_err).
// Zeek labels a connection from the ORIGINATOR's point of view; for an
// ingress record we are the responder, so "we reset" means RSTR there.
//
// Mapping (first matching row wins):
//   interim snapshot                                 -> S1     open
//   never ESTABLISHED, active:
//     RST received                                   -> REJ    refused
//     we sent RST                                    -> RSTOS0 rst_sent
//     sk_err ETIMEDOUT (SYN retries exhausted)       -> S0     syn_timeout
//     sk_err ECONNREFUSED (e.g. ICMP port unreach.)  -> REJ    refused
//     closed by the owner before any answer          -> S0     aborted
//     other sk_err (host/net unreachable ...)        -> S0     unknown
//   never ESTABLISHED, passive (SYN_RECV -> CLOSE; the child exists only after
//     the handshake's last ACK, so this is rare):
//     RST received / sent                            -> RSTO / RSTR
//     otherwise                                      -> OTH    unknown
//   ESTABLISHED, any RST (the first one decides):
//     first RST by the originator                    -> RSTO   rst_sent|rst_received
//     first RST by the responder                     -> RSTR   rst_sent|rst_received
//   ESTABLISHED, FIN exchange (FIN_WAIT2, CLOSE_WAIT, CLOSING or TIME_WAIT seen)
//                                                    -> SF     fin
//     (an active closer's full socket ends in FIN_WAIT2 once our FIN is acked;
//      the peer's FIN is handled later by the timewait sock we do not track,
//      so "our FIN acked" counts as the normal close.)
//   ESTABLISHED, our FIN never acked (FIN_WAIT1 -> CLOSE)
//                                                    -> S2 (we originated) / S3  fin
//   ESTABLISHED, straight to CLOSE without FIN or RST (retransmission or
//     keepalive timeout, sk_err set)                 -> S1     aborted
// SH/SHR/RSTRH/OTH need packet-level views (half-open without SYN/SYN-ACK)
// that a socket never has, except the passive OTH row above.

export interface Outcome {
  connState: ConnState;
  closeReason: CloseReason;
}

export const ETIMEDOUT = 110;
export const ECONNREFUSED = 111;

export type StateFacts = Pick<CaEvent, 'states' | 'flags' | 'rst_sent' | 'rst_received' | 'sk_err' | 'pkts_sent' | 'pkts_received'>;

// UDP has neither handshake nor close, so Zeek labels a UDP flow by whether
// the responder ever sent anything (again from the originator's view: on an
// ingress flow the responder is us):
//   the responder sent at least one datagram        -> SF
//   it did not                                      -> S0
// An interim record carries the state so far. close_reason: released (the
// socket was closed: the kernel's sock_release record, CA_F_CLOSED), idle
// (no datagram either way for the idle timeout: the agent's walk), or open
// (interim).
export function classifyUdp(ev: Pick<StateFacts, 'flags' | 'pkts_sent' | 'pkts_received'>, kind: 'final' | 'interim'): Outcome {
  const responderPkts = (ev.flags & F_ACTIVE) !== 0 ? ev.pkts_received : ev.pkts_sent;
  const connState: ConnState = responderPkts > 0n ? 'SF' : 'S0';
  if (kind === 'interim') return { connState, closeReason: 'open' };
  return { connState, closeReason: (ev.flags & F_CLOSED) !== 0 ? 'released' : 'idle' };
}

export function classify(ev: StateFacts, kind: 'final' | 'interim'): Outcome {
  if ((ev.flags & F_UDP) !== 0) return classifyUdp(ev, kind);
  if (kind === 'interim') return { connState: 'S1', closeReason: 'open' };
  const active = (ev.flags & F_ACTIVE) !== 0;
  const anyRst = ev.rst_sent + ev.rst_received > 0;
  // With both counters set, the flag says whose came first; with one, that one did.
  const weResetFirst = ev.rst_sent > 0 && (ev.rst_received === 0 || (ev.flags & F_RST_SENT_FIRST) !== 0);

  if (!visited(ev, TCP.ESTABLISHED)) {
    if (active) {
      if (ev.rst_received > 0) return { connState: 'REJ', closeReason: 'refused' };
      if (ev.rst_sent > 0) return { connState: 'RSTOS0', closeReason: 'rst_sent' };
      if (ev.sk_err === ETIMEDOUT) return { connState: 'S0', closeReason: 'syn_timeout' };
      if (ev.sk_err === ECONNREFUSED) return { connState: 'REJ', closeReason: 'refused' };
      return { connState: 'S0', closeReason: ev.sk_err === 0 ? 'aborted' : 'unknown' };
    }
    if (anyRst) return weResetFirst ? { connState: 'RSTR', closeReason: 'rst_sent' } : { connState: 'RSTO', closeReason: 'rst_received' };
    return { connState: 'OTH', closeReason: 'unknown' };
  }
  if (anyRst) {
    const originatorResetFirst = weResetFirst === active;
    return { connState: originatorResetFirst ? 'RSTO' : 'RSTR', closeReason: weResetFirst ? 'rst_sent' : 'rst_received' };
  }
  if (visited(ev, TCP.FIN_WAIT2) || visited(ev, TCP.CLOSE_WAIT) || visited(ev, TCP.CLOSING) || visited(ev, TCP.TIME_WAIT)) {
    return { connState: 'SF', closeReason: 'fin' };
  }
  if (visited(ev, TCP.FIN_WAIT1)) return { connState: active ? 'S2' : 'S3', closeReason: 'fin' };
  return { connState: 'S1', closeReason: 'aborted' };
}
