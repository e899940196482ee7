import type { AlertDoc } from '../../lib/alert.js';
import type { ConnectionDoc } from '../../lib/ecs.js';
import { traceOf, type RuleDef, type TraceLine } from './types.js';

// What `rules test` prints for a fixture whose alert count is wrong: the
// expected and actual alerts, and for a rule that fired too little the
// document that came closest to matching, with every test of the condition
// marked held (+) or failed (-). "Closest" is the share of tests that went the
// way a match needs (a test under `not` has to fail).

export interface Miss {
  docIndex: number;
  doc: ConnectionDoc;
  /** Tests that went the right way / all tests. */
  score: number;
  lines: TraceLine[];
  /** The condition held but an exception removed the document. */
  excepted: boolean;
}

function score(lines: TraceLine[]): number {
  const flips: number[] = []; // depths of enclosing `not`s
  let good = 0;
  let leaves = 0;
  for (const l of lines) {
    while (flips.length && flips[flips.length - 1]! >= l.depth) flips.pop();
    if (l.leaf) {
      leaves++;
      if (l.ok === (flips.length % 2 === 0)) good++;
    } else if (l.text === 'not') flips.push(l.depth);
  }
  return leaves ? good / leaves : 0;
}

/** The fixture document closest to firing the rule (or removed by an exception), or null when all matched. */
export function closestMiss(rule: RuleDef, docs: ConnectionDoc[]): Miss | null {
  let best: Miss | null = null;
  docs.forEach((doc, docIndex) => {
    const lines: TraceLine[] = [];
    const held = traceOf(rule.condition, doc, lines);
    const excepted = held && rule.exceptions(doc);
    if (held && !excepted) return;
    if (excepted) {
      lines.push({ ok: true, text: 'an exception of the rule holds, so the document is dropped:', depth: 0, leaf: false });
      traceOf(rule.exceptions, doc, lines, 1);
    }
    const s = excepted ? 0.999 : score(lines);
    if (!best || s > best.score) best = { docIndex, doc, score: s, lines, excepted };
  });
  return best;
}

const alertLine = (a: AlertDoc): string => `  ${a['@timestamp']} ${a.event.reason ?? ''}`;

/** The report for one fixture whose count is off. */
export function describeMismatch(rule: RuleDef, file: string, expected: number, alerts: AlertDoc[], docs: ConnectionDoc[]): string[] {
  const out = [`${file}: expected ${expected} alert(s), got ${alerts.length}`];
  out.push(`  actual alerts:${alerts.length ? '' : ' none'}`);
  for (const a of alerts.slice(0, 10)) out.push(`  ${alertLine(a)}`, `      why: ${a.connaudit.alert.explain ?? ''}`);
  if (alerts.length > 10) out.push(`    ... ${alerts.length - 10} more`);
  if (alerts.length >= expected) return out;
  const miss = closestMiss(rule, docs);
  if (!miss) {
    out.push(`  all ${docs.length} document(s) match the condition; the ${rule.type} engine did not fire: check its parameters against the fixture (window, threshold, group_by, timing)`);
    return out;
  }
  const d = miss.doc;
  out.push(`  closest miss: line ${miss.docIndex + 1} (${d.source.ip}:${d.source.port} -> ${d.destination.ip}:${d.destination.port}, ${d.process?.name ?? '-'} on ${d.host.name}), ${Math.round(miss.score * 100)}% of the tests went its way:`);
  for (const l of miss.lines) out.push(`    ${'  '.repeat(l.depth)}${l.ok ? '+' : '-'} ${l.text}`);
  return out;
}
