import { describe, expect, it } from 'vitest';
import { effectiveMappings, fieldMapping, type Mapping } from '../es-templates.js';
import { loadCatalogue } from './catalogue.js';
import { createSloStage } from './index.js';
import { generateStorm } from '../../tools/gen/slo-storm.js';
import { summaryDocs } from './summary.js';

// slo.* is dynamic:strict in schemas/elasticsearch/component/connaudit-slo-annotations.json:
// a leaf the stage writes but the template lacks would send documents to the
// DLQ. Annotate the storm and check every slo.* leaf of connections, alerts
// and summaries against the effective template of its index.

function leaves(v: unknown, prefix: string, out: Set<string>): Set<string> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) leaves(x, `${prefix}.${k}`, out);
  } else out.add(prefix);
  return out;
}

function unmapped(m: Mapping, paths: Set<string>): string[] {
  return [...paths].filter((p) => !fieldMapping(m, p)?.type);
}

describe('slo.* written by the stage is mapped by the templates', () => {
  const cat = loadCatalogue(new URL('../../config/services.yaml', import.meta.url).pathname);
  const stage = createSloStage(cat);
  const storm = generateStorm({ baselineMinutes: 70, stormMinutes: 30, afterMinutes: 5 });
  const docPaths = new Set<string>();
  const alertPaths = new Set<string>();
  for (const d of storm.docs) {
    for (const a of stage.process(d)) leaves(a.slo, 'slo', alertPaths);
    leaves(d.slo, 'slo', docPaths);
  }
  // A document the stage does not count (dated far ahead of the wall clock) carries slo.counted: false.
  const future = structuredClone(storm.docs[0]!);
  future['@timestamp'] = '2999-01-01T00:00:00.000Z';
  stage.process(future);
  leaves(future.slo, 'slo', docPaths);
  const summaryPaths = new Set<string>();
  for (const s of summaryDocs(stage)) leaves(s.doc.slo, 'slo', summaryPaths);

  it('saw the fields it checks', () => {
    expect(docPaths).toContain('slo.burn_rate.3d');
    expect(docPaths).toContain('slo.counted');
    expect(alertPaths).toContain('slo.top_contributor.node_group');
    expect(summaryPaths).toContain('slo.events.bad');
  });
  it.each([
    ['connaudit-connections', docPaths],
    ['connaudit-alerts', alertPaths],
    ['connaudit-slo', summaryPaths],
  ] as const)('%s', (template, paths) => {
    expect(unmapped(effectiveMappings(template), paths)).toEqual([]);
  });
});
