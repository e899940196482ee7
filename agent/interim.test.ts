import { describe, expect, it } from 'vitest';
import { F_ACTIVE, F_CLOSED, F_UDP, TCP, type CaEvent } from './event-decoder.js';
import { InterimScheduler, type Walk } from './interim.js';

const S = 1_000_000_000n;
const ESTABLISHED = 1 << TCP.ESTABLISHED;
const ev = (sock_id: bigint, start_ns: bigint, flags = 0, end_ns = 0n, states = ESTABLISHED): CaEvent => ({ sock_id, start_ns, end_ns, flags, states } as CaEvent);
const snap = (atNs: bigint, entries: CaEvent[]): Walk<CaEvent> => ({ atNs, entries });

describe('InterimScheduler', () => {
  it('emits an interim once per interval per open connection', () => {
    const s = new InterimScheduler(2n * S);
    const a = ev(1n, 10n * S);
    expect(s.due(snap(11n * S, [a]))).toEqual([]);
    expect(s.due(snap(12n * S, [a])).map((d) => [d.kind, d.atNs])).toEqual([['interim', 12n * S]]);
    expect(s.due(snap(13n * S, [a]))).toEqual([]);
    expect(s.due(snap(14n * S, [a])).map((d) => d.kind)).toEqual(['interim']);
  });

  it('gives no interim to an attempt that never got its SYN-ACK (its final S0/REJ follows)', () => {
    const s = new InterimScheduler(2n * S);
    const waiting = ev(3n, 10n * S, 0, 0n, 1 << TCP.SYN_SENT);
    expect(s.due(snap(30n * S, [waiting]))).toEqual([]);
  });

  it('treats a reused socket address with a new start time as a new connection', () => {
    const s = new InterimScheduler(2n * S);
    expect(s.due(snap(12n * S, [ev(1n, 10n * S)])).length).toBe(1);
    expect(s.due(snap(13n * S, [ev(1n, 11n * S)])).length).toBe(1);
  });

  it('flushes a closed-but-not-destroyed socket once after the grace period', () => {
    const s = new InterimScheduler(60n * S, 10n * S);
    const closed = ev(2n, 1n * S, F_CLOSED, 5n * S);
    expect(s.due(snap(14n * S, [closed]))).toEqual([]);
    expect(s.due(snap(15n * S, [closed])).map((d) => [d.kind, d.atNs])).toEqual([['final', 5n * S]]);
    expect(s.due(snap(16n * S, [closed]))).toEqual([]);
  });

  it('closes a UDP flow idle for the timeout with a final record at its last datagram', () => {
    const s = new InterimScheduler(60n * S, 10n * S, 5n * S);
    const flow = { sock_id: 7n, start_ns: 10n * S, last_ns: 12n * S, end_ns: 0n, flags: F_UDP | F_ACTIVE, states: 0, dport: 53 } as CaEvent;
    expect(s.due(snap(16n * S, [flow]))).toEqual([]);
    expect(s.due(snap(17n * S, [flow])).map((d) => [d.kind, d.atNs])).toEqual([['final', 12n * S]]);
  });

  it('gives a busy UDP flow interim records (no handshake needed) and keeps peers of one socket apart', () => {
    const s = new InterimScheduler(2n * S, 10n * S, 60n * S);
    const a = { sock_id: 7n, start_ns: 10n * S, last_ns: 12n * S, end_ns: 0n, flags: F_UDP, states: 0, dport: 53 } as CaEvent;
    const b = { ...a, dport: 123 } as CaEvent;
    expect(s.due(snap(12n * S, [a, b])).map((d) => [d.kind, d.ev.dport])).toEqual([['interim', 53], ['interim', 123]]);
    expect(s.due(snap(13n * S, [a, b]))).toEqual([]);
  });
});
