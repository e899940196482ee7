import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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

  it('builds rule stages per partition from one rule set; a reload reaches every live instance; a bad edit is rejected with file:line and the rules stay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-rules-'));
    cpSync(repoRules, dir, { recursive: true });
    const c = await composeStages({ rules: dir }, { log, rekey: new RekeyBuffer() });
    expect(c.primary, 'rule stages are per partition, not instance-wide').toEqual([]);
    const p0 = c.partitioned!.primary();
    const p1 = c.partitioned!.primary();
    const x0 = c.partitioned!.crossHost!();
    expect(p0.own.map((s) => s.name)).toEqual(['rules']);
    expect(x0.own.map((s) => s.name)).toEqual(['rules-cross-host']);
    expect(p0.own[0]).not.toBe(p1.own[0]);
    const count = (s: unknown) => (s as { ruleCount: number }).ruleCount;
    const running = count(p0.own[0]) + count(x0.own[0]);
    const primaryBefore = count(p0.own[0]);
    expect(running).toBeGreaterThan(0);
    // One rule fewer: every live instance, and instances built later, run without it.
    const gone = readdirSync(dir).find((f) => f.endsWith('.yaml') && !f.startsWith('_'))!;
    rmSync(join(dir, gone));
    p1.dispose();
    const fewer = c.reloadRules!();
    expect(fewer.ok).toBe(true);
    // The primary stage routes every enabled rule (host-local ones itself, cross-host ones to the re-key hop).
    expect(count(p0.own[0])).toBe(primaryBefore - 1);
    expect(count(p1.own[0]), 'a disposed instance is no longer reloaded').toBe(primaryBefore);
    const later = c.partitioned!.primary();
    expect(count(later.own[0])).toBe(count(p0.own[0]));
    writeFileSync(join(dir, 'zz_broken.yaml'), '- rule: broken\n  id: not-a-uuid\n  condition: [\n');
    const after = c.reloadRules!();
    expect(after.ok).toBe(false);
    expect(after.errors.join('\n')).toMatch(/zz_broken\.yaml:\d+:\d+/);
    expect(count(p0.own[0])).toBe(primaryBefore - 1);
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
    // The SLO judgement spans the instance (its state: slo-instance); each partition counts through its own view, before its rules.
    expect(c.primary).toEqual([]);
    expect(c.instanceState!.map((s) => s.name)).toEqual(['slo-instance']);
    expect(c.partitioned!.primary().own.map((s) => s.name)).toEqual(['slo', 'rules']);
  });
});

describe('without --config', () => {
  it('runs the shipped rules and the shipped catalogue (SLO stage, rules, cross-host rules)', async () => {
    const { shippedConfig } = await import('./defaults.js');
    const { loadServiceLookup } = await import('./enrich/catalogue-lookup.js');
    const cfg = shippedConfig();
    const c = composeStages(cfg, { log, rekey: new RekeyBuffer(), catalogue: loadServiceLookup(cfg.services!).catalogue });
    expect(c.primary).toEqual([]);
    expect(c.instanceState!.map((s) => s.name)).toEqual(['slo-instance']);
    expect(c.partitioned!.primary().own.map((s) => s.name)).toEqual(['slo', 'rules']);
    expect(c.partitioned!.crossHost!().own.map((s) => s.name)).toEqual(['rules-cross-host']);
    expect(c.reloadRules!().rules).toBeGreaterThan(0);
  });
});
