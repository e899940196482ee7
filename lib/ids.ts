import { createHash } from 'node:crypto';

// Deterministic ids. Delivery is at least once; because a record's id is a pure
// function of what it describes, a redelivered or replayed record overwrites
// its own document instead of adding a second one.

const h = (...parts: Array<string | number | bigint>): string =>
  createHash('sha256').update(parts.join('|')).digest('base64url').slice(0, 22);

/**
 * One connection: the kernel's socket address is reused over time, so it is
 * combined with the boot id and the first-seen kernel timestamp.
 */
export function connUid(host: string, bootId: string, sockId: bigint | string, startNs: bigint | number): string {
  return `C${h(host, bootId, sockId.toString(), startNs.toString())}`;
}

/** One record of a connection: the final record, or the interim (or DNS transaction) at a given time. */
export function eventId(connUidValue: string, kind: 'final' | 'interim' | 'dns', endUs: number): string {
  return h(connUidValue, kind, kind === 'final' ? 'end' : endUs);
}

/** An alert: same rule, same group and same first triggering event -> same id. */
export function alertId(ruleId: string, groupKey: string, firstEventId: string): string {
  return h('alert', ruleId, groupKey, firstEventId);
}

/** One agent-health report: the agent run (host + start time) and its sequence number. */
export function healthEventId(host: string, startedUs: number, seq: number): string {
  return h('health', host, startedUs, seq);
}
