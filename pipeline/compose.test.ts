import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { composeStages, StageLoadError } from './compose.js';
import { RekeyBuffer } from './rekey.js';

// Stage composition against the real rules module and the shipped rules.

const log = pino({ level: 'silent' });
const repoRules = new URL('../rules', import.meta.url).pathname;

describe('composeStages', () => {
  it('runs no stage without a config', async () => {
    const c = await composeStages({}, { log, rekey: new RekeyBuffer() });
    expect(c.primary).toEqual([]);
    expect(c.crossHost).toEqual([]);
    expect(c.reloadRules).toBeUndefined();
  });

  it('loads the shipped rules as a primary and a cross-host stage; a bad edit is rejected with file:line and the rules stay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-rules-'));
    cpSync(repoRules, dir, { recursive: true });
    const c = await composeStages({ rules: dir }, { log, rekey: new RekeyBuffer() });
    expect(c.primary.map((s) => s.name)).toHaveLength(1);
    expect(c.crossHost).toHaveLength(1);
    const before = c.reloadRules!();
    expect(before.ok).toBe(true);
    const ruleCount = () => (c.primary[0] as unknown as { ruleCount: number }).ruleCount + (c.crossHost[0] as unknown as { ruleCount: number }).ruleCount;
    const running = ruleCount();
    expect(running).toBeGreaterThan(0);
    writeFileSync(join(dir, 'zz_broken.yaml'), '- rule: broken\n  id: not-a-uuid\n  condition: [\n');
    const after = c.reloadRules!();
    expect(after.ok).toBe(false);
    expect(after.errors.join('\n')).toMatch(/zz_broken\.yaml:\d+:\d+/);
    expect(ruleCount()).toBe(running);
  });

  it('refuses to start on a bad rule file, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-rules-'));
    writeFileSync(join(dir, 'bad.yaml'), 'rule: [unclosed\n');
    let err: unknown;
    try {
      composeStages({ rules: dir }, { log, rekey: new RekeyBuffer() });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StageLoadError);
    expect((err as StageLoadError).problems.join('\n')).toMatch(/bad\.yaml:\d+:\d+/);
  });
});

describe('with the service catalogue', () => {
  it('identifies the service in enrichment and puts the SLO stage before the rules', async () => {
    const { loadServiceLookup } = await import('./enrich/catalogue-lookup.js');
    const { createEnricher } = await import('./enrich/enrich.js');
    const { recordToDoc } = await import('../lib/ecs.js');
    const { record } = await import('../test/helpers/records.js');
    const services = new URL('../config/services.yaml', import.meta.url).pathname;
    const { lookup, catalogue } = await loadServiceLookup(services);
    const doc = recordToDoc(record(1, { host: 'order-a-1', comm: 'order-svc', executable: '/usr/local/bin/order-svc', environment: null, node_group: null }));
    createEnricher({}, lookup)(doc);
    expect(doc.service).toMatchObject({ name: 'order', environment: 'prod' });
    expect(doc.connaudit.service_owner).toBe('team-checkout');
    const c = await composeStages({ services, rules: repoRules }, { log, rekey: new RekeyBuffer(), catalogue });
    expect(c.primary).toHaveLength(2);
    expect(c.primary[0]!.name).toMatch(/slo/i);
  });
});

describe('without --config', () => {
  it('runs the shipped rules and the shipped catalogue (SLO stage, rules, cross-host rules)', async () => {
    const { shippedConfig } = await import('./defaults.js');
    const { loadServiceLookup } = await import('./enrich/catalogue-lookup.js');
    const cfg = shippedConfig();
    const c = composeStages(cfg, { log, rekey: new RekeyBuffer(), catalogue: loadServiceLookup(cfg.services!).catalogue });
    expect(c.primary).toHaveLength(2);
    expect(c.crossHost).toHaveLength(1);
    expect(c.reloadRules!().rules).toBeGreaterThan(0);
  });
});
