import type { Client } from '@elastic/elasticsearch';
import type { RawBulk } from './bulk.js';

// op_type index (not create): a redelivered or replayed record overwrites its
// own document, which is what makes the deterministic _id an idempotency key.
export function esRawBulk(client: Client): RawBulk {
  return async (ops) => {
    const operations: object[] = [];
    for (const op of ops) operations.push({ index: { _index: op.index, _id: op.id } }, op.doc);
    const res = await client.bulk({ operations, refresh: false });
    return res.items.map((item) => {
      const r = item.index ?? Object.values(item)[0];
      if (!r) return { status: 500, error: { type: 'empty_item', reason: 'bulk response item without a result' } };
      return r.error ? { status: r.status, error: { type: r.error.type, reason: r.error.reason ?? '' } } : { status: r.status };
    });
  };
}
