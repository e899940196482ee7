import { PAIRS } from '../windows.js';
import { countersNote, type ReportModel } from './model.js';
import { CAUSE_COLOURS, esc, lineChart, stackedBars, timeline } from './svg.js';

// The incident review as one self-contained HTML file, laid out like a
// postmortem appendix: what was promised, how fast it burned, where the bad
// events came from, what alerted when, and the attribution table.

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const iso = (t: number): string => new Date(t).toISOString().replace('.000Z', 'Z');
const SEVERITY_COLOUR: Record<string, string> = { critical: '#b00020', high: '#e65100', medium: '#f9a825', low: '#558b2f' };

const STYLE = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1140px;color:#222}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}.meta{color:#555}
.ct{font-weight:600;font-size:13px}.ax{font-size:11px;fill:#555}.lb{font-size:12px;fill:#222}.th{font-size:11px;fill:#b00}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}.bad{color:#b00020;font-weight:600}`;

export function renderReport(m: ReportModel): string {
  const s = m.service;
  const out: string[] = [];
  out.push(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${esc(`SLO incident review: ${s.name} ${iso(m.fromMs)} - ${iso(m.toMs)}`)}</title><style>${STYLE}</style></head><body>`);
  out.push(`<h1>SLO incident review: ${esc(s.name)}</h1>`);
  out.push(`<p class="meta">Owner ${esc(s.owner ?? 'not set')} · environment ${esc(s.environment ?? 'not set')} · ${esc(iso(m.fromMs))} to ${esc(iso(m.toMs))} · source ${esc(m.source)} · generated ${esc(m.generatedAt)} by connaudit report</p>`);

  out.push('<h2>Objectives</h2><table id="objectives"><tr><th>SLO</th><th>Type</th><th>Objective</th><th>Period</th><th>Events in range</th><th>Bad</th><th>SLI in range</th><th>Budget spent in range</th></tr>');
  for (const slo of s.slos) {
    const c = m.totals.perSlo[slo.name] ?? { total: 0, bad: 0 };
    const sli = c.total === 0 ? 1 : 1 - c.bad / c.total;
    const spent = c.total === 0 ? 0 : c.bad / c.total / slo.budget;
    out.push(`<tr data-row="objective"><td>${esc(slo.name)}</td><td>${esc(slo.type)}${slo.thresholdMs !== undefined ? ` (&lt; ${slo.thresholdMs} ms)` : ''}</td><td class="n">${slo.objective}%</td><td>${esc(slo.period)}</td><td class="n">${c.total}</td><td class="n">${c.bad}</td><td class="n${sli < slo.objective / 100 ? ' bad' : ''}">${(sli * 100).toFixed(3)}%</td><td class="n">${spent.toFixed(1)}x budget rate</td></tr>`);
  }
  out.push('</table>');
  const note = countersNote(m.counters);
  if (note) out.push(`<p class="meta" id="counted">${esc(note)}</p>`);

  out.push('<h2>Burn rate over time</h2><p class="meta">Burn rate 1 spends the error budget exactly over the SLO period. Dashed red lines are the Google SRE Workbook thresholds; an alert needs both windows of a pair above its line (1h and 5m above 14.4x, 6h and 30m above 6x, ...). Red verticals are alerts.</p>');
  const markers = m.alerts.map((a) => ({ t: a.t, label: `${iso(a.t)} ${a.rule}` }));
  for (const slo of s.slos) {
    const pts = (w: '5m' | '1h' | '30m' | '6h'): Array<[number, number]> => m.series.map((p) => [p.t, p.rates[slo.name]?.[w] ?? 0]);
    out.push(lineChart({
      id: `burn-rate-${slo.name}`,
      title: `${slo.name} (${slo.objective}%): burn rate`,
      fromMs: m.fromMs,
      toMs: m.toMs,
      lines: [
        { label: '5m', colour: '#90caf9', points: pts('5m') },
        { label: '1h', colour: '#0d47a1', points: pts('1h') },
        { label: '30m', colour: '#ffb74d', dash: '3 3', points: pts('30m') },
        { label: '6h', colour: '#e65100', dash: '8 4', points: pts('6h') },
      ],
      thresholds: PAIRS.map((p) => ({ value: p.factor, label: `${p.long}/${p.short} ${p.factor}x` })),
      markers,
    }));
  }

  out.push('<h2>Bad events by cause and node group</h2>');
  out.push(stackedBars({ id: 'bad-by-group', title: 'bad events (any SLO) per node group, by network cause', bars: m.badByGroupCause.map((g) => ({ label: g.node_group, counts: g.counts })) }));
  const causes = Object.keys(CAUSE_COLOURS);
  out.push(`<table id="bad-by-group"><tr><th>Node group</th>${causes.map((c) => `<th><span class="sw" style="background:${CAUSE_COLOURS[c]}"></span>${c}</th>`).join('')}<th>Total</th></tr>`);
  for (const g of m.badByGroupCause) out.push(`<tr data-row="group"><td>${esc(g.node_group)}</td>${causes.map((c) => `<td class="n">${g.counts[c] ?? 0}</td>`).join('')}<td class="n">${g.total}</td></tr>`);
  out.push('</table>');

  out.push('<h2>Top destinations</h2>');
  out.push(stackedBars({ id: 'top-destinations', title: 'connections per destination: bad vs. fine', bars: m.destinations.map((d) => ({ label: d.destination, counts: { bad: d.bad, fine: d.total - d.bad } })), colours: { bad: '#b00020', fine: '#a5d6a7' } }));
  out.push('<table id="destinations"><tr><th>Destination</th><th>Connections</th><th>Bad</th><th>Bad share</th><th>With a network anomaly</th></tr>');
  for (const d of m.destinations) out.push(`<tr data-row="destination"><td>${esc(d.destination)}</td><td class="n">${d.total}</td><td class="n">${d.bad}</td><td class="n">${pct(d.total ? d.bad / d.total : 0)}</td><td class="n">${d.anomalies}</td></tr>`);
  out.push('</table>');

  out.push('<h2>Alert timeline</h2>');
  out.push(timeline({ id: 'alert-timeline', title: 'alerts by category', fromMs: m.fromMs, toMs: m.toMs, events: m.alerts.map((a) => ({ t: a.t, lane: a.category, label: `${iso(a.t)} ${a.rule}: ${a.reason}`, colour: SEVERITY_COLOUR[a.severity] ?? '#555' })) }));
  out.push('<table id="alerts"><tr><th>Time (UTC)</th><th>Rule</th><th>Severity</th><th>Impact</th><th>What it says</th></tr>');
  for (const a of m.alerts) out.push(`<tr data-row="alert"><td>${esc(iso(a.t))}</td><td>${esc(a.rule)}<br><small>${esc(a.category)} · ${esc(a.id)}</small></td><td>${esc(a.severity)}</td><td>${esc(a.impact ?? '')}</td><td>${esc(a.reason)}</td></tr>`);
  out.push('</table>');

  out.push('<h2>Attribution</h2><p class="meta">Each SLO\'s bad events in the range, by network cause × node group × destination. Share: part of that SLO\'s burned budget. Burn contribution: the burn rate this cell alone would cause; the cells of one SLO add up to its burn rate over the range.</p>');
  out.push('<table id="attribution"><tr><th>SLO</th><th>Cause</th><th>Node group</th><th>Destination</th><th>Bad events</th><th>Share of burned budget</th><th>Burn contribution</th></tr>');
  for (const r of m.attribution) out.push(`<tr data-row="attribution"><td>${esc(r.slo)}</td><td><span class="sw" style="background:${CAUSE_COLOURS[r.cause] ?? '#666'}"></span>${esc(r.cause)}</td><td>${esc(r.node_group)}</td><td>${esc(r.destination)}</td><td class="n">${r.bad}</td><td class="n">${pct(r.share)}</td><td class="n">${r.burn_rate.toFixed(2)}x</td></tr>`);
  if (m.attribution.length === 0) out.push('<tr><td colspan="7">No bad events in this range.</td></tr>');
  out.push('</table></body></html>');
  return out.join('\n');
}
