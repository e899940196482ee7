import type { Logger } from '../lib/log.js';

// Bulk indexing that checks every item. Elasticsearch answers a bulk request
// with 200 even when items failed, so each item's status decides its fate:
//   - 429 and 5xx, and errors about the index rather than the document
//     (closed, missing, blocked): retried with backoff; if they persist the
//     whole batch fails, nothing is committed and Kafka redelivers it later;
//   - any other 4xx (mapping conflict, strict field, bad value): permanent for
//     that document, handed back to the caller to dead-letter with ES's reason,
//     so one bad document neither blocks the partition nor disappears.

export interface BulkOp<T = unknown> {
  index: string;
  id: string;
  doc: object;
  /** Carried through so the caller knows which message a rejection belongs to. */
  tag: T;
}

export interface ItemResult {
  status: number;
  error?: { type: string; reason: string };
}

/** One bulk request: one result per op, in order. Throws if the request itself fails. */
export type RawBulk = (ops: Array<Pick<BulkOp, 'index' | 'id' | 'doc'>>) => Promise<ItemResult[]>;

export interface Rejection<T> {
  op: BulkOp<T>;
  status: number;
  reason: string;
}

export class BulkUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BulkUnavailableError';
  }
}

const INDEX_LEVEL_ERRORS = new Set(['index_closed_exception', 'index_not_found_exception', 'cluster_block_exception', 'es_rejected_execution_exception', 'unavailable_shards_exception', 'no_shard_available_action_exception']);

export function isRetriable(r: ItemResult): boolean {
  return r.status === 429 || r.status >= 500 || (r.error !== undefined && INDEX_LEVEL_ERRORS.has(r.error.type));
}

export interface BulkOptions {
  log?: Logger;
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function bulkIndex<T>(raw: RawBulk, ops: Array<BulkOp<T>>, opts: BulkOptions = {}): Promise<{ indexed: number; rejected: Array<Rejection<T>> }> {
  const attempts = opts.attempts ?? 8;
  const base = opts.baseDelayMs ?? 200;
  const max = opts.maxDelayMs ?? 10_000;
  const sleep = opts.sleep ?? defaultSleep;
  const rejected: Array<Rejection<T>> = [];
  let indexed = 0;
  let pending = ops;
  let lastProblem = '';
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > attempts) {
      throw new BulkUnavailableError(`Elasticsearch did not accept ${pending.length} document(s) after ${attempts} attempts: ${lastProblem}`);
    }
    if (attempt > 1) await sleep(Math.min(max, base * 2 ** (attempt - 2)));
    let results: ItemResult[];
    try {
      results = await raw(pending.map(({ index, id, doc }) => ({ index, id, doc })));
    } catch (err) {
      // 413: the request is larger than http.max_content_length. Sending it
      // again cannot work and Kafka would redeliver the same batch forever, so
      // halve it; one document that alone is too large is a bad document.
      if ((err as { meta?: { statusCode?: number } }).meta?.statusCode === 413) {
        if (pending.length === 1) {
          rejected.push({ op: pending[0]!, status: 413, reason: 'request_entity_too_large: the document alone exceeds http.max_content_length' });
          return { indexed, rejected };
        }
        opts.log?.warn({ docs: pending.length }, 'bulk request too large (413); splitting it in two');
        const half = Math.ceil(pending.length / 2);
        for (const part of [pending.slice(0, half), pending.slice(half)]) {
          const r = await bulkIndex(raw, part, opts);
          indexed += r.indexed;
          rejected.push(...r.rejected);
        }
        return { indexed, rejected };
      }
      lastProblem = `bulk request failed: ${(err as Error).message}`;
      opts.log?.warn({ attempt, docs: pending.length, err: (err as Error).message }, 'bulk request failed, retrying');
      continue;
    }
    if (results.length !== pending.length) throw new Error(`bulk response has ${results.length} items for ${pending.length} operations`);
    const retry: Array<BulkOp<T>> = [];
    results.forEach((r, i) => {
      const op = pending[i]!;
      if (r.status >= 200 && r.status < 300) indexed++;
      else if (isRetriable(r)) {
        retry.push(op);
        lastProblem = `${op.index}/${op.id}: ${r.status} ${r.error?.type ?? ''} ${r.error?.reason ?? ''}`.trim();
      } else rejected.push({ op, status: r.status, reason: `${r.error?.type ?? 'error'}: ${r.error?.reason ?? `status ${r.status}`}` });
    });
    if (retry.length > 0) opts.log?.warn({ attempt, retry: retry.length, example: lastProblem }, 'bulk items to retry');
    pending = retry;
  }
  return { indexed, rejected };
}
