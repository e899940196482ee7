// Record times are integer microseconds since the epoch (Avro
// timestamp-micros); documents carry them as ISO-8601 text with all six
// fractional digits, so no precision is lost on the way to Elasticsearch
// (date fields keep milliseconds, _source keeps the rest for replay).

const US_PER_DAY = 86_400_000_000;
const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));

let cachedDay = Number.NaN;
let cachedDayPrefix = '';

/**
 * 1763770001500456 -> "2025-11-22T00:06:41.500456Z". Formatting a Date is
 * most of the cost of mapping a record, so the date part is formatted once per
 * day and the time of day computed here; start and end of a connection often
 * fall in different seconds but almost never in different days.
 */
export function isoFromMicros(us: number): string {
  const day = Math.floor(us / US_PER_DAY);
  if (day !== cachedDay) {
    cachedDayPrefix = new Date(day * 86_400_000).toISOString().slice(0, 11);
    cachedDay = day;
  }
  const inDay = us - day * US_PER_DAY;
  const sec = Math.floor(inDay / 1e6);
  const frac = inDay - sec * 1e6;
  const h = Math.floor(sec / 3600);
  const m = Math.floor((sec - h * 3600) / 60);
  const s = sec - h * 3600 - m * 60;
  return `${cachedDayPrefix}${TWO_DIGITS[h]}:${TWO_DIGITS[m]}:${TWO_DIGITS[s]}.${frac < 100000 ? String(frac).padStart(6, '0') : frac}Z`;
}

/** The inverse, for documents read back (replay, backtests); fractions beyond microseconds are cut. */
export function microsFromIso(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not an ISO-8601 timestamp: ${JSON.stringify(iso)}`);
  const m = /\.(\d+)(?:Z|[+-]\d\d:?\d\d)$/.exec(iso);
  const frac = m ? m[1]!.padEnd(6, '0').slice(3, 6) : '000';
  return ms * 1000 + Number(frac);
}
