// Record times are integer microseconds since the epoch (Avro
// timestamp-micros); documents carry them as ISO-8601 text with all six
// fractional digits, so no precision is lost on the way to Elasticsearch
// (date fields keep milliseconds, _source keeps the rest for replay).

let cachedSecond = Number.NaN;
let cachedPrefix = '';

/**
 * 1763770001500456 -> "2025-11-22T00:06:41.500456Z". Records of one batch fall
 * in a few seconds, so the date part is formatted once per second and reused:
 * formatting a Date is most of the cost of mapping a record otherwise.
 */
export function isoFromMicros(us: number): string {
  const second = Math.floor(us / 1e6);
  if (second !== cachedSecond) {
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 19);
    cachedSecond = second;
  }
  const frac = us - second * 1e6;
  return `${cachedPrefix}.${frac < 100000 ? String(frac).padStart(6, '0') : frac}Z`;
}

/** The inverse, for documents read back (replay, backtests); fractions beyond microseconds are cut. */
export function microsFromIso(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not an ISO-8601 timestamp: ${JSON.stringify(iso)}`);
  const m = /\.(\d+)(?:Z|[+-]\d\d:?\d\d)$/.exec(iso);
  const frac = m ? m[1]!.padEnd(6, '0').slice(3, 6) : '000';
  return ms * 1000 + Number(frac);
}
