import { describe, expect, it } from 'vitest';
import { rabin64 } from './rabin.js';

// Vectors from the Avro project's share/test/data/schema-tests.txt (canonical
// form -> signed 64-bit fingerprint).
const VECTORS: Array<[string, string]> = [
  ['"null"', '7195948357588979594'],
  ['"boolean"', '-6970731678124411036'],
  ['"int"', '8247732601305521295'],
  ['"string"', '-8142146995180207161'],
  ['[]', '-1241056759729112623'],
  ['{"name":"foo","type":"record","fields":[]}', '-4824392279771201922'],
  ['{"name":"x.y.foo","type":"record","fields":[]}', '5916914534497305771'],
  ['{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}', '7843277075252814651'],
  ['{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}', '-4448647247586288245'],
  ['{"type":"map","values":"string"}', '-8732877298790414990'],
];

describe('rabin64', () => {
  it.each(VECTORS)('fingerprints %s', (canonical, expected) => {
    expect(BigInt.asIntN(64, rabin64(canonical)).toString()).toBe(expected);
  });
});
