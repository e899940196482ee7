import { describe, expect, it } from 'vitest';
import { classify, ECONNREFUSED, ETIMEDOUT, type StateFacts } from './conn-state.js';
import { F_ACTIVE, F_CLOSED, F_RST_SENT_FIRST, F_UDP, TCP } from './event-decoder.js';

const S = (...states: number[]): number => states.reduce((m, s) => m | (1 << s), 0);
const EST = [TCP.SYN_SENT, TCP.ESTABLISHED];
const EST_IN = [TCP.SYN_RECV, TCP.ESTABLISHED];

type Row = [string, Partial<StateFacts> & { states: number }, 'final' | 'interim', string, string];

// [case, facts, kind, conn_state, close_reason]
const table: Row[] = [
  ['egress normal close by us', { states: S(...EST, TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.CLOSE), flags: F_ACTIVE }, 'final', 'SF', 'fin'],
  ['egress normal close by peer', { states: S(...EST, TCP.CLOSE_WAIT, TCP.LAST_ACK, TCP.CLOSE), flags: F_ACTIVE }, 'final', 'SF', 'fin'],
  ['ingress simultaneous close', { states: S(...EST_IN, TCP.FIN_WAIT1, TCP.CLOSING, TCP.CLOSE) }, 'final', 'SF', 'fin'],
  ['refused by RST', { states: S(TCP.SYN_SENT, TCP.CLOSE), flags: F_ACTIVE, rst_received: 1, sk_err: ECONNREFUSED }, 'final', 'REJ', 'refused'],
  ['refused by ICMP', { states: S(TCP.SYN_SENT, TCP.CLOSE), flags: F_ACTIVE, sk_err: ECONNREFUSED }, 'final', 'REJ', 'refused'],
  ['SYN timeout', { states: S(TCP.SYN_SENT, TCP.CLOSE), flags: F_ACTIVE, sk_err: ETIMEDOUT }, 'final', 'S0', 'syn_timeout'],
  ['owner gave up during SYN_SENT', { states: S(TCP.SYN_SENT, TCP.CLOSE), flags: F_ACTIVE }, 'final', 'S0', 'aborted'],
  ['host unreachable', { states: S(TCP.SYN_SENT, TCP.CLOSE), flags: F_ACTIVE, sk_err: 113 }, 'final', 'S0', 'unknown'],
  ['we reset before an answer', { states: S(TCP.SYN_SENT, TCP.CLOSE), flags: F_ACTIVE | F_RST_SENT_FIRST, rst_sent: 1 }, 'final', 'RSTOS0', 'rst_sent'],
  ['egress, server resets', { states: S(...EST, TCP.CLOSE), flags: F_ACTIVE, rst_received: 1 }, 'final', 'RSTR', 'rst_received'],
  ['egress, we abort (linger 0)', { states: S(...EST, TCP.CLOSE), flags: F_ACTIVE | F_RST_SENT_FIRST, rst_sent: 1 }, 'final', 'RSTO', 'rst_sent'],
  ['ingress, we (server) reset', { states: S(...EST_IN, TCP.CLOSE), flags: F_RST_SENT_FIRST, rst_sent: 1 }, 'final', 'RSTR', 'rst_sent'],
  ['ingress, client aborts', { states: S(...EST_IN, TCP.CLOSE), rst_received: 1 }, 'final', 'RSTO', 'rst_received'],
  ['egress, theirs first then ours', { states: S(...EST, TCP.CLOSE), flags: F_ACTIVE, rst_received: 1, rst_sent: 1 }, 'final', 'RSTR', 'rst_received'],
  ['RST after a FIN exchange still counts as reset', { states: S(...EST, TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.CLOSE), flags: F_ACTIVE | F_RST_SENT_FIRST, rst_sent: 1 }, 'final', 'RSTO', 'rst_sent'],
  ['egress FIN never acked', { states: S(...EST, TCP.FIN_WAIT1, TCP.CLOSE), flags: F_ACTIVE, sk_err: ETIMEDOUT }, 'final', 'S2', 'fin'],
  ['ingress FIN never acked', { states: S(...EST_IN, TCP.FIN_WAIT1, TCP.CLOSE) }, 'final', 'S3', 'fin'],
  ['retransmission timeout', { states: S(...EST, TCP.CLOSE), flags: F_ACTIVE, sk_err: ETIMEDOUT }, 'final', 'S1', 'aborted'],
  ['passive child never established', { states: S(TCP.SYN_RECV, TCP.CLOSE) }, 'final', 'OTH', 'unknown'],
  ['interim snapshot', { states: S(...EST), flags: F_ACTIVE }, 'interim', 'S1', 'open'],
  ['UDP: we sent, the peer answered, socket closed', { states: 0, flags: F_UDP | F_ACTIVE | F_CLOSED, pkts_sent: 3n, pkts_received: 3n }, 'final', 'SF', 'released'],
  ['UDP: we sent, never an answer, idle', { states: 0, flags: F_UDP | F_ACTIVE, pkts_sent: 2n }, 'final', 'S0', 'idle'],
  ['UDP: the peer sent first, we answered', { states: 0, flags: F_UDP, pkts_sent: 1n, pkts_received: 1n }, 'final', 'SF', 'idle'],
  ['UDP: the peer sent first, we never answered', { states: 0, flags: F_UDP | F_CLOSED, pkts_received: 4n }, 'final', 'S0', 'released'],
  ['UDP interim: state so far, open', { states: 0, flags: F_UDP | F_ACTIVE, pkts_sent: 5n, pkts_received: 1n }, 'interim', 'SF', 'open'],
];

describe('classify (Zeek conn_state, close_reason)', () => {
  it.each(table)('%s', (_name, facts, kind, state, reason) => {
    const full: StateFacts = { flags: 0, rst_sent: 0, rst_received: 0, sk_err: 0, pkts_sent: 0n, pkts_received: 0n, ...facts };
    expect(classify(full, kind)).toEqual({ connState: state, closeReason: reason });
  });
});
