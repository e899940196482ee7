import { describe, expect, it } from 'vitest';
import { INDEX_CONNECTIONS, TOPIC_CONNECTIONS, namePrefix, namesFor } from './names.js';

describe('name prefix (CONNAUDIT_NAME_PREFIX)', () => {
  it('leaves the standard names alone when unset', () => {
    expect(namePrefix({})).toBe('');
    expect(TOPIC_CONNECTIONS).toBe('connaudit.connections');
    expect(INDEX_CONNECTIONS).toBe('connaudit-connections');
  });

  it('puts every topic, index and group under the prefix', () => {
    const n = namesFor('staging-');
    expect(Object.values(n).every((v) => v.startsWith('staging-connaudit'))).toBe(true);
    expect(n.topicRekey).toBe('staging-connaudit.rekey');
    expect(n.indexAlerts).toBe('staging-connaudit-alerts');
    expect(n.rekeyGroup).toBe('staging-connaudit-pipeline-rekey');
  });

  it('refuses a prefix Kafka or Elasticsearch would not accept, saying what is allowed', () => {
    expect(namePrefix({ CONNAUDIT_NAME_PREFIX: 'bench-e2e-1a2b-' })).toBe('bench-e2e-1a2b-');
    for (const bad of ['Staging-', '-x', 'a.b', 'a b', 'x/']) {
      expect(() => namePrefix({ CONNAUDIT_NAME_PREFIX: bad })).toThrow(/CONNAUDIT_NAME_PREFIX=.*lower-case letters, digits and '-'/);
    }
  });
});
