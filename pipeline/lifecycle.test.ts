import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@elastic/elasticsearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapElasticsearch } from './es-bootstrap.js';
import { loadIndexTemplates } from './es-templates.js';
import { detectCapabilities, expiredIndices, ilmPolicyBody, lifecycleSettings, parseByteSize, parseDuration } from './lifecycle.js';

describe('lifecycle settings', () => {
  it('parses Elasticsearch time and byte units', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseByteSize('25gb')).toBe(25 * 1024 ** 3);
    expect(parseByteSize('512MB')).toBe(512 * 1024 ** 2);
  });

  it.each([
    [{ retention: '30 days' }, /lifecycle\.retention: '30 days' is not a duration/],
    [{ max_age: '1w' }, /lifecycle\.max_age: '1w' is not a duration/],
    [{ max_primary_shard_size: '25g' }, /lifecycle\.max_primary_shard_size: '25g' is not a size/],
    [{ check_interval: '10ms' }, /lifecycle\.check_interval: '10ms' is below 1s/],
  ])('rejects %j naming the setting', (partial, msg) => {
    expect(() => lifecycleSettings(partial)).toThrow(msg);
  });

  it('fills in defaults', () => {
    expect(lifecycleSettings({ retention: '7d' })).toEqual({ max_age: '1d', max_primary_shard_size: '25gb', retention: '7d', check_interval: '5m' });
  });
});

describe('retention', () => {
  const day = 86_400_000;
  const gens = [
    { name: 'a-000001', createdMs: 0, isWrite: false },
    { name: 'a-000002', createdMs: 10 * day, isWrite: false },
    { name: 'a-000003', createdMs: 20 * day, isWrite: true },
  ];

  it('counts an index\'s age from its rollover (the next generation\'s creation), never deletes the write index', () => {
    // a-000001 stopped being written at day 10, a-000002 at day 20.
    expect(expiredIndices(gens, 15 * day, 24 * day)).toEqual([]);
    expect(expiredIndices(gens, 15 * day, 25 * day)).toEqual(['a-000001']);
    expect(expiredIndices(gens, 15 * day, 35 * day)).toEqual(['a-000001', 'a-000002']);
    expect(expiredIndices(gens, 0, 1000 * day)).toEqual(['a-000001', 'a-000002']);
  });

  it('keeps an index that is still flagged as the write index even if a newer one exists', () => {
    expect(expiredIndices([{ ...gens[0]!, isWrite: true }, gens[1]!], 1, 100 * day)).toEqual([]);
  });
});

interface Seen {
  method: string;
  path: string;
  body: unknown;
}

/** A stand-in for a full Elasticsearch with ILM and data streams: answers every call and records it. */
function fakeFullCluster(seen: Seen[], opts: { ilm: boolean }): Server {
  return createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => { raw += c.toString(); });
    req.on('end', () => {
      const path = req.url ?? '';
      seen.push({ method: req.method ?? '', path, body: raw ? JSON.parse(raw) as unknown : undefined });
      res.setHeader('x-elastic-product', 'Elasticsearch');
      res.setHeader('content-type', 'application/json');
      const send = (code: number, body: unknown) => { res.statusCode = code; res.end(JSON.stringify(body)); };
      if (path.startsWith('/_ilm/status')) return opts.ilm ? send(200, { operation_mode: 'RUNNING' }) : send(405, { error: 'Incorrect HTTP method' });
      if (path.startsWith('/_data_stream/')) return opts.ilm ? send(200, { data_streams: [] }) : send(405, { error: 'Incorrect HTTP method' });
      if (req.method === 'HEAD' && path.startsWith('/_alias/')) { res.statusCode = 404; return res.end(); }
      if (req.method === 'PUT' && /^\/connaudit-[a-z-]+-000001/.test(path)) return send(200, { acknowledged: true, index: path.slice(1).split('?')[0] });
      return send(200, { acknowledged: true });
    });
  });
}

describe('ILM path (request shape against a stand-in for a full cluster)', () => {
  const seen: Seen[] = [];
  let server: Server;
  let client: Client;
  beforeAll(async () => {
    server = fakeFullCluster(seen, { ilm: true });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = new Client({ node: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxRetries: 0 });
  });
  afterAll(async () => {
    await client.close();
    await new Promise((r) => server.close(r));
  });

  it('detects ILM and data streams', async () => {
    expect(await detectCapabilities(client)).toEqual({ ilm: true, dataStreams: true });
  });

  it('installs the policy, attaches every index template and new write index to it', async () => {
    seen.length = 0;
    const settings = lifecycleSettings({ max_age: '12h', max_primary_shard_size: '10gb', retention: '14d' });
    const r = await bootstrapElasticsearch(client, undefined, undefined, settings);
    expect(r.lifecycle).toBe('ilm');

    const policy = seen.find((s) => s.method === 'PUT' && s.path.startsWith('/_ilm/policy/connaudit'));
    expect(policy?.body).toEqual({ policy: ilmPolicyBody(settings) });
    expect(policy?.body).toMatchObject({ policy: { phases: {
      hot: { actions: { rollover: { max_age: '12h', max_primary_shard_size: '10gb' } } },
      delete: { min_age: '14d', actions: { delete: {} } },
    } } });

    const templates = loadIndexTemplates();
    expect(templates.size).toBeGreaterThanOrEqual(4);
    for (const [name, t] of templates) {
      const put = seen.find((s) => s.method === 'PUT' && s.path.startsWith(`/_index_template/${name}`));
      expect(put, `index template ${name} was not PUT`).toBeDefined();
      expect((put!.body as { template: { settings: Record<string, string> } }).template.settings, name).toMatchObject({
        'index.lifecycle.name': 'connaudit', 'index.lifecycle.rollover_alias': t._meta.write_alias,
      });
      // The first generation is created behind the write alias, so ILM's rollover has an alias to move.
      const create = seen.find((s) => s.method === 'PUT' && s.path.startsWith(`/${t._meta.write_alias}-000001`));
      expect(create?.body, name).toEqual({ aliases: { [t._meta.write_alias]: { is_write_index: true } } });
    }
    // Every policy PUT precedes every template PUT: a template must never name a policy that does not exist yet.
    const firstTemplate = seen.findIndex((s) => s.path.startsWith('/_index_template/'));
    expect(seen.findIndex((s) => s.path.startsWith('/_ilm/policy/'))).toBeLessThan(firstTemplate);
  });
});

describe('local path detection', () => {
  it('a cluster without the ILM module (405) gets the local lifecycle and no ILM settings in its templates', async () => {
    const seen: Seen[] = [];
    const server = fakeFullCluster(seen, { ilm: false });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = new Client({ node: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxRetries: 0 });
    try {
      expect(await detectCapabilities(client)).toEqual({ ilm: false, dataStreams: false });
      const r = await bootstrapElasticsearch(client);
      expect(r.lifecycle).toBe('local');
      expect(r.aliases).toEqual(expect.arrayContaining(['connaudit-connections', 'connaudit-alerts', 'connaudit-slo', 'connaudit-agent-health']));
      expect(seen.filter((s) => s.path.startsWith('/_ilm/policy'))).toEqual([]);
      for (const s of seen.filter((x) => x.path.startsWith('/_index_template/'))) {
        expect(JSON.stringify(s.body)).not.toContain('index.lifecycle');
      }
    } finally {
      await client.close();
      await new Promise((r) => server.close(r));
    }
  });
});
