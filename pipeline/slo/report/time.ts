import { durationMs } from '../catalogue.js';

/** ISO-8601, `now`, or `now-<n>(m|h|d)`: the forms Kibana users already type. */
export function parseTime(text: string, nowMs = Date.now()): number {
  if (text === 'now') return nowMs;
  const rel = /^now-(.+)$/.exec(text);
  if (rel) return nowMs - durationMs(rel[1]!);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new Error(`not a time: ${JSON.stringify(text)} (use ISO-8601 like 2025-03-14T10:00:00Z, or now-6h)`);
  return t;
}
