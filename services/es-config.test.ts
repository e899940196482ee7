import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { elasticsearchYml, heapOptions, type EsNodeSettings } from './es-config.js';

const base: EsNodeSettings = {
  clusterName: 'c', nodeName: 'n', httpPort: 9200, transportPort: 9300, dataDir: '/d', logsDir: '/l', security: false,
};

describe('elasticsearchYml', () => {
  it('default run: single node on loopback, security off, disk watermarks off', () => {
    const y = parse(elasticsearchYml(base)) as Record<string, unknown>;
    expect(y).toMatchObject({
      'network.host': '127.0.0.1', 'http.port': 9200, 'transport.port': 9300, 'discovery.type': 'single-node',
      'path.data': '/d', 'path.logs': '/l', 'xpack.security.enabled': false,
      'cluster.routing.allocation.disk.threshold_enabled': false,
    });
    expect(Object.keys(y).filter((k) => k.startsWith('xpack.security.'))).toEqual(['xpack.security.enabled']);
  });

  it('security run: security on over plain HTTP with API keys enabled', () => {
    const y = parse(elasticsearchYml({ ...base, security: true, httpPort: 9201, transportPort: 9301 })) as Record<string, unknown>;
    expect(y).toMatchObject({
      'http.port': 9201, 'transport.port': 9301, 'xpack.security.enabled': true,
      'xpack.security.http.ssl.enabled': false, 'xpack.security.authc.api_key.enabled': true,
    });
  });

  it('quotes string values so paths with odd characters stay strings', () => {
    const y = parse(elasticsearchYml({ ...base, dataDir: '/x: y/#z' })) as Record<string, unknown>;
    expect(y['path.data']).toBe('/x: y/#z');
  });
});

it('heapOptions pins min and max heap to the same size', () => {
  expect(heapOptions(384).split('\n').filter((l) => l.startsWith('-X'))).toEqual(['-Xms384m', '-Xmx384m']);
});
