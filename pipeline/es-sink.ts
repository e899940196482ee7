import type { Client } from '@elastic/elasticsearch';
import type { RawBulk } from './bulk.js';

// The two Elasticsearch calls the batch path makes. Connection documents go
// in with op_type create: the deterministic _id makes a redelivery hit the
// document it already wrote (409), and create turns that into a question the
// pipeline answers (same content: a no-op; other content: a conflict) instead
// of silently overwriting the audit trail. Alerts and agent-health reports
// use op_type index: an alert raised again by a retried batch updates itself.
export function esRawBulk(client: Client): RawBulk {
  return async (ops) => {
    const operations: object[] = [];
    for (const op of ops) operations.push(op.create ? { create: { _index: op.index, _id: op.id } } : { index: { _index: op.index, _id: op.id } }, op.doc);
    const res = await client.bulk({ operations, refresh: false });
    return res.items.map((item) => {
      const r = item.create ?? item.index ?? Object.values(item)[0];
      if (!r) return { status: 500, error: { type: 'empty_item', reason: 'bulk response item without a result' } };
      return r.error ? { status: r.status, error: { type: r.error.type, reason: r.error.reason ?? '' } } : { status: r.status };
    });
  };
}

/** The stored documents for these ids (absent ids are missing from the map). Throws if the request fails. */
export type FetchDocs = (index: string, ids: string[]) => Promise<Map<string, Record<string, unknown>>>;

export function esFetchDocs(client: Client): FetchDocs {
  return async (index, ids) => {
    const out = new Map<string, Record<string, unknown>>();
    if (ids.length === 0) return out;
    // Search, not mget: after a rollover the alias spans several indices,
    // which mget refuses. Conflicts are rare (a redelivery after a crash, or
    // tampering), so the refresh that makes the search see the document that
    // was just written costs little.
    await client.indices.refresh({ index });
    const res = await client.search<Record<string, unknown>>({ index, query: { ids: { values: ids } }, size: ids.length * 2 });
    for (const h of res.hits.hits) if (h._source && h._id !== undefined) out.set(h._id, h._source);
    return out;
  };
}
