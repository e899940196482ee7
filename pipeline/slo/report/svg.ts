// Small inline-SVG chart helpers for the incident report: no script, no
// external asset, so the file opens the same from a ticket attachment years
// later.

export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export const CAUSE_COLOURS: Record<string, string> = {
  refused: '#7b3294',
  syn_timeout: '#c2a5cf',
  reset: '#d7191c',
  retransmits: '#fdae61',
  slow_connect: '#2b83ba',
  dns_servfail: '#1a9641',
  dns_timeout: '#a6d96a',
  other: '#999999',
};

const hhmm = (t: number): string => new Date(t).toISOString().slice(11, 16);
const day = (t: number): string => new Date(t).toISOString().slice(0, 10);

export interface Line {
  label: string;
  colour: string;
  dash?: string;
  points: Array<[number, number]>;
}

export interface Threshold {
  value: number;
  label: string;
}

/** Time series on a log(1+y) scale, so 0.5x and 50x are both readable. */
export function lineChart(o: { id: string; title: string; fromMs: number; toMs: number; lines: Line[]; thresholds: Threshold[]; markers: Array<{ t: number; label: string }> }): string {
  const W = 1100, H = 280, L = 60, R = 150, T = 28, B = 36;
  const maxY = Math.max(20, ...o.lines.flatMap((l) => l.points.map((p) => p[1])));
  const f = (y: number): number => Math.log10(1 + Math.max(0, y));
  const x = (t: number): number => L + ((t - o.fromMs) / Math.max(1, o.toMs - o.fromMs)) * (W - L - R);
  const y = (v: number): number => T + (1 - f(v) / f(maxY)) * (H - T - B);
  const ticks = [0, 1, 3, 6, 14.4, 50, 100, 500, 1000].filter((v) => v <= maxY);
  const parts: string[] = [];
  parts.push(`<svg data-chart="${esc(o.id)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`);
  parts.push(`<text x="${L}" y="18" class="ct">${esc(o.title)}</text>`);
  parts.push(`<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="#fbfbfb" stroke="#ddd"/>`);
  for (const v of ticks) parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" class="ax">${v}x</text>`);
  const xt = 6;
  for (let i = 0; i <= xt; i++) {
    const t = o.fromMs + ((o.toMs - o.fromMs) * i) / xt;
    parts.push(`<text x="${x(t)}" y="${H - B + 16}" text-anchor="middle" class="ax">${hhmm(t)}</text>`);
  }
  parts.push(`<text x="${L}" y="${H - 4}" class="ax">${day(o.fromMs)} UTC</text>`);
  for (const th of o.thresholds) {
    if (th.value > maxY) continue;
    parts.push(`<line data-threshold="${th.value}" x1="${L}" x2="${W - R}" y1="${y(th.value)}" y2="${y(th.value)}" stroke="#b00" stroke-dasharray="6 4" stroke-width="1"/><text x="${W - R + 4}" y="${y(th.value) + 4}" class="th">${esc(th.label)}</text>`);
  }
  for (const m of o.markers) {
    if (m.t < o.fromMs || m.t > o.toMs) continue;
    parts.push(`<line x1="${x(m.t)}" x2="${x(m.t)}" y1="${T}" y2="${H - B}" stroke="#d7191c" stroke-width="2" opacity="0.6"><title>${esc(m.label)}</title></line>`);
  }
  o.lines.forEach((l, i) => {
    if (l.points.length === 0) return;
    const d = l.points.map(([t, v], k) => `${k === 0 ? 'M' : 'L'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join('');
    parts.push(`<path data-series="${esc(l.label)}" d="${d}" fill="none" stroke="${l.colour}" stroke-width="${i === 1 ? 2.2 : 1.4}"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/>`);
    // Legend on the title row, clear of the threshold labels on the right.
    const lx = W - R - 70 * (o.lines.length - i);
    parts.push(`<line x1="${lx}" x2="${lx + 20}" y1="14" y2="14" stroke="${l.colour}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/><text x="${lx + 24}" y="18" class="ax">${esc(l.label)} burn</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** One bar per category, stacked by key (in the colours' order), coloured by `colours` (default: by network cause). */
export function stackedBars(o: { id: string; title: string; bars: Array<{ label: string; counts: Record<string, number> }>; colours?: Record<string, string> }): string {
  const colours = o.colours ?? CAUSE_COLOURS;
  const W = 1100, rowH = 30, L = 140, R = 160, T = 30;
  const H = T + Math.max(1, o.bars.length) * rowH + 40;
  const max = Math.max(1, ...o.bars.map((b) => Object.values(b.counts).reduce((x, y) => x + y, 0)));
  // Leave room after the longest bar for its count.
  const sx = (v: number): number => (v / max) * (W - L - R - 60);
  const parts: string[] = [`<svg data-chart="${esc(o.id)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`, `<text x="${L}" y="18" class="ct">${esc(o.title)}</text>`];
  o.bars.forEach((b, i) => {
    const yy = T + i * rowH;
    let acc = 0;
    parts.push(`<text x="${L - 8}" y="${yy + 19}" text-anchor="end" class="lb">${esc(b.label)}</text>`);
    for (const k of Object.keys(colours).filter((c) => (b.counts[c] ?? 0) > 0)) {
      const v = b.counts[k]!;
      parts.push(`<rect data-bar="${esc(b.label)}|${esc(k)}" x="${L + sx(acc)}" y="${yy + 4}" width="${Math.max(1, sx(v))}" height="${rowH - 8}" fill="${colours[k] ?? '#666'}"><title>${esc(`${b.label} ${k}: ${v}`)}</title></rect>`);
      acc += v;
    }
    parts.push(`<text x="${L + sx(acc) + 6}" y="${yy + 19}" class="ax">${acc}</text>`);
  });
  if (o.bars.length === 0) parts.push(`<text x="${L}" y="${T + 20}" class="ax">no bad events in this range</text>`);
  Object.entries(colours).forEach(([k, c], i) => {
    parts.push(`<rect x="${W - R + 10}" y="${T + i * 18}" width="12" height="12" fill="${c}"/><text x="${W - R + 28}" y="${T + 10 + i * 18}" class="ax">${k}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Events on a time axis, one lane per category. */
export function timeline(o: { id: string; title: string; fromMs: number; toMs: number; events: Array<{ t: number; lane: string; label: string; colour: string }> }): string {
  const lanes = [...new Set(o.events.map((e) => e.lane))];
  const W = 1100, L = 160, R = 40, T = 30, laneH = 28;
  const H = T + Math.max(1, lanes.length) * laneH + 30;
  const x = (t: number): number => L + ((t - o.fromMs) / Math.max(1, o.toMs - o.fromMs)) * (W - L - R);
  const parts: string[] = [`<svg data-chart="${esc(o.id)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}">`, `<text x="${L}" y="18" class="ct">${esc(o.title)}</text>`];
  lanes.forEach((lane, i) => {
    const yy = T + i * laneH + laneH / 2;
    parts.push(`<text x="${L - 8}" y="${yy + 4}" text-anchor="end" class="lb">${esc(lane)}</text><line x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    for (const e of o.events.filter((ev) => ev.lane === lane)) {
      parts.push(`<circle data-alert="${esc(e.label)}" cx="${x(e.t).toFixed(1)}" cy="${yy}" r="7" fill="${e.colour}" stroke="#fff"><title>${esc(e.label)}</title></circle>`);
    }
  });
  if (lanes.length === 0) parts.push(`<text x="${L}" y="${T + 16}" class="ax">no alerts in this range</text>`);
  for (let i = 0; i <= 6; i++) {
    const t = o.fromMs + ((o.toMs - o.fromMs) * i) / 6;
    parts.push(`<text x="${x(t)}" y="${H - 8}" text-anchor="middle" class="ax">${hhmm(t)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
