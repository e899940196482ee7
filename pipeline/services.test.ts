import { describe, expect, it } from 'vitest';
import { sendChunks } from './services.js';

describe('sendChunks', () => {
  it('splits messages so no send exceeds the byte limit, keeps order, and never drops or empties a chunk', async () => {
    const msgs = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(100 + i), headers: { h: 'x' } }));
    const chunks = sendChunks(msgs, 1000);
    expect(chunks.flat()).toEqual(msgs);
    expect(chunks.every((c) => c.length > 0)).toBe(true);
    for (const c of chunks) {
      const bytes = c.reduce((n, m) => n + m.key.length + m.value.length + 2, 0);
      expect(bytes <= 1000 || c.length === 1).toBe(true);
    }
    // A message larger than the limit goes alone rather than being dropped.
    expect(sendChunks([{ key: null, value: Buffer.alloc(5000) }], 1000)).toHaveLength(1);
  });
});
