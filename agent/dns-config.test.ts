import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './config.js';

// The dns: section of the agent config (agent/config.ts, schemas/agent-config.schema.json).

describe('agent config: dns', () => {
  it('has DNS on by default with a 5 s timeout, a bounded cache and a 4 MiB ring', () => {
    expect(parseConfig('', 'agent.yaml').dns).toEqual({ enabled: true, timeoutS: 5, maxPending: 65_536, cacheEntries: 100_000, cacheMinTtlS: 1, ringBufferBytes: 4 << 20 });
  });

  it('reads every key', () => {
    const c = parseConfig('dns:\n  enabled: false\n  timeout_s: 1.5\n  max_pending: 100\n  cache_entries: 500\n  cache_min_ttl_s: 0\n  ring_buffer_bytes: 65536\n', 'agent.yaml');
    expect(c.dns).toEqual({ enabled: false, timeoutS: 1.5, maxPending: 100, cacheEntries: 500, cacheMinTtlS: 0, ringBufferBytes: 65536 });
  });

  it.each([
    ['dns:\n  ring_buffer_bytes: 100000\n', /agent\.yaml:2:.*ring_buffer_bytes.*power of two/s],
    ['dns:\n  timeout_s: 0\n', /agent\.yaml:2:.*timeout_s/s],
    ['dns:\n  cache: 10\n', /agent\.yaml:2:.*cache/s],
  ])('names file, line and key for %j', (yaml, where) => {
    let err: unknown;
    try { parseConfig(yaml, 'agent.yaml'); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(where);
  });
});
