import { describe, expect, it } from 'vitest';
import { recordToDoc } from '../../lib/ecs.js';
import { ipToBytes } from '../../lib/ip.js';
import { record } from '../../test/helpers/records.js';
import { createEnricher } from './enrich.js';

const cfg = {
  zones: { prod: ['10.1.0.0/16'], dev: ['10.9.0.0/16'], db: ['10.2.0.0/16'] },
  node_groups: { web: ['web-*'], batch: ['batch-?'] },
  environments: [{ host: 'lab-*', environment: 'lab' }, { zone: 'prod', environment: 'production' }, { zone: 'dev', environment: 'development' }],
};

const doc = (over: Parameters<typeof record>[1] = {}) => recordToDoc(record(1, { node_group: null, environment: null, ...over }));

describe('enrichment', () => {
  it('sets zones, internal destination, node group and environment from the config', () => {
    const d = doc();
    createEnricher(cfg)(d);
    expect(d.connaudit).toMatchObject({ source_zone: 'prod', destination_zone: 'db', destination_external: false, node_group: 'web' });
    expect(d.service?.environment).toBe('production');
  });

  it('marks public destinations external, private ones not, with the default internal ranges', () => {
    const ext = doc({ dst_ip: ipToBytes('93.184.216.34') });
    const v6 = doc({ family: 'ipv6', src_ip: ipToBytes('fd00::1'), dst_ip: ipToBytes('fd00::2') });
    const enrich = createEnricher({});
    enrich(ext);
    enrich(v6);
    expect(ext.connaudit.destination_external).toBe(true);
    expect(v6.connaudit.destination_external).toBe(false);
  });

  it('uses the configured internal CIDRs instead of the defaults', () => {
    const d = doc({ dst_ip: ipToBytes('192.168.1.1') });
    createEnricher({ internal_cidrs: ['10.0.0.0/8'] })(d);
    expect(d.connaudit.destination_external).toBe(true);
  });

  it('keeps what the agent set', () => {
    const d = doc({ node_group: 'from-agent', environment: 'staging' });
    createEnricher(cfg)(d);
    expect(d.connaudit.node_group).toBe('from-agent');
    expect(d.service?.environment).toBe('staging');
  });

  it('takes the environment from the observing side: the responder on ingress', () => {
    const d = doc({ host: 'api-3', direction: 'ingress', src_ip: ipToBytes('10.1.0.5'), dst_ip: ipToBytes('10.9.0.7') });
    createEnricher(cfg)(d);
    expect(d.service?.environment).toBe('development');
    expect(d.connaudit.node_group).toBeUndefined();
  });

  it('matches host globs in order (first entry wins)', () => {
    const d = doc({ host: 'lab-1' });
    createEnricher(cfg)(d);
    expect(d.service?.environment).toBe('lab');
    const b = doc({ host: 'batch-10' });
    createEnricher(cfg)(b);
    expect(b.connaudit.node_group).toBeUndefined();
  });

  it('adds the service identity from the catalogue lookup', () => {
    const d = doc();
    createEnricher({}, { matchService: (x) => (x.process?.name === 'curl' ? { name: 'orders', owner: 'team-o', environment: 'prod-eu' } : undefined), matchDestinationService: () => ({ name: 'pg' }) })(d);
    expect(d.service).toEqual({ name: 'orders', environment: 'prod-eu' });
    expect(d.connaudit.service_owner).toBe('team-o');
    expect(d.connaudit.destination_service).toBe('pg');
  });

  it('computes community_id when an older record lacks it, and keeps an existing one', () => {
    const d = doc();
    const want = d.network.community_id;
    d.network.community_id = '';
    createEnricher({})(d);
    expect(d.network.community_id).toBe(want);
    expect(want).toMatch(/^1:/);
  });
});
