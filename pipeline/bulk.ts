import type { Logger } from '../lib/log.js';

// Bulk indexing that classifies every failure as the document's fault or the
// cluster's. Elasticsearch answers a bulk request with 200 even when items
// failed, so each item's status decides its fate:
//   - 429 and 5xx, and errors about the index rather than the document
//     (closed, missing, blocked): the cluster's fault, retried with backoff;
//     if they persist the whole batch fails, nothing is committed and Kafka
//     redelivers it later;
//   - 409 on op_type create: the id exists already; handed back as a
//     conflict, for the caller to tell a redelivery from a rewrite;
//   - any other 4xx (mapping conflict, strict field, bad value): permanent for
//     that document, handed back to dead-letter with ES's reason, so one bad
//     document neither blocks the partition nor disappears.
// Some document faults fail the WHOLE request instead of one item: an _id over
// 512 bytes gives `action_request_validation_exception` (400) for the request,
// and a request over http.max_content_length gives 413. Retrying those cannot
// work, so such ids are refused before sending, and a request refused with a
// 4xx as a whole is halved until the document at fault stands alone.
//
// This is the only retry layer for Elasticsearch writes: the pipeline's
// client is built with maxRetries 0 (run.ts), so one failing batch is sent at
// most `attempts` times, not attempts × client retries.

/** Elasticsearch refuses a document _id longer than this many UTF-8 bytes. */
export const MAX_ID_BYTES = 512;

export interface BulkOp<T = unknown> {
  index: string;
  id: string;
  doc: object;
  /** op_type create: never overwrite an existing document (tamper resistance). Default: index. */
  create?: boolean;
  /** Carried through so the caller knows which message a rejection belongs to. */
  tag: T;
}

export interface ItemResult {
  status: number;
  error?: { type: string; reason: string };
}

/** One bulk request: one result per op, in order. Throws if the request itself fails. */
export type RawBulk = (ops: Array<Pick<BulkOp, 'index' | 'id' | 'doc' | 'create'>>) => Promise<ItemResult[]>;

/** Why a document was refused for good: its DLQ reason. */
export type RejectKind = 'es_rejected' | 'id_too_long' | 'too_large';

export interface Rejection<T> {
  op: BulkOp<T>;
  status: number;
  kind: RejectKind;
  reason: string;
}

export interface BulkResult<T> {
  indexed: number;
  rejected: Array<Rejection<T>>;
  /** op_type create found a document with this id already. */
  conflicts: Array<BulkOp<T>>;
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

const isConflict = (r: ItemResult): boolean => r.status === 409;

/**
 * A request-level status that says "this request's content is wrong", so the
 * same request can never succeed: 400, 413 and other 4xx except those that
 * are about the client or the cluster (auth, timeouts, rate limits).
 */
function requestIsAtFault(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && ![401, 403, 404, 408, 429].includes(status);
}

export interface BulkOptions {
  log?: Logger;
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Each request's duration in seconds and outcome (the bulk latency histogram). */
  observe?: (seconds: number, outcome: 'ok' | 'error') => void;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface RequestError {
  message: string;
  meta?: { statusCode?: number; body?: { error?: { type?: string; reason?: string } } };
}

function requestReason(err: RequestError): string {
  const e = err.meta?.body?.error;
  return e?.type ? `${e.type}: ${e.reason ?? ''}`.trim() : err.message;
}

export async function bulkIndex<T>(raw: RawBulk, ops: Array<BulkOp<T>>, opts: BulkOptions = {}): Promise<BulkResult<T>> {
  const out: BulkResult<T> = { indexed: 0, rejected: [], conflicts: [] };
  const sendable: Array<BulkOp<T>> = [];
  for (const op of ops) {
    const bytes = Buffer.byteLength(op.id, 'utf8');
    if (bytes > MAX_ID_BYTES) out.rejected.push({ op, status: 400, kind: 'id_too_long', reason: `_id is ${bytes} bytes; Elasticsearch allows at most ${MAX_ID_BYTES} bytes` });
    else sendable.push(op);
  }
  if (sendable.length > 0) await send(raw, sendable, opts, out);
  return out;
}

async function send<T>(raw: RawBulk, ops: Array<BulkOp<T>>, opts: BulkOptions, out: BulkResult<T>): Promise<void> {
  const attempts = opts.attempts ?? 8;
  const base = opts.baseDelayMs ?? 200;
  const max = opts.maxDelayMs ?? 10_000;
  const sleep = opts.sleep ?? defaultSleep;
  let pending = ops;
  let lastProblem = '';
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > attempts) {
      throw new BulkUnavailableError(`Elasticsearch did not accept ${pending.length} document(s) after ${attempts} attempts: ${lastProblem}`);
    }
    if (attempt > 1) await sleep(Math.min(max, base * 2 ** (attempt - 2)));
    let results: ItemResult[];
    const started = performance.now();
    try {
      results = await raw(pending.map(({ index, id, doc, create }) => ({ index, id, doc, create })));
      opts.observe?.((performance.now() - started) / 1000, 'ok');
    } catch (e) {
      opts.observe?.((performance.now() - started) / 1000, 'error');
      const err = e as RequestError;
      const status = err.meta?.statusCode;
      if (requestIsAtFault(status)) {
        // The request as a whole is refused for its content; sending it again
        // cannot work and Kafka would redeliver the same batch forever. Halve
        // it until the documents at fault stand alone.
        if (pending.length === 1) {
          out.rejected.push({ op: pending[0]!, status: status!, kind: status === 413 ? 'too_large' : 'es_rejected', reason: status === 413 ? 'request_entity_too_large: the document alone exceeds http.max_content_length' : requestReason(err) });
          return;
        }
        opts.log?.warn({ docs: pending.length, status, err: requestReason(err) }, 'Elasticsearch refused the whole bulk request; splitting it to find the document at fault');
        const half = Math.ceil(pending.length / 2);
        for (const part of [pending.slice(0, half), pending.slice(half)]) await send(raw, part, opts, out);
        return;
      }
      lastProblem = `bulk request failed: ${requestReason(err)}`;
      opts.log?.warn({ attempt, docs: pending.length, err: lastProblem }, 'bulk request failed, retrying');
      continue;
    }
    if (results.length !== pending.length) throw new Error(`bulk response has ${results.length} items for ${pending.length} operations`);
    const retry: Array<BulkOp<T>> = [];
    results.forEach((r, i) => {
      const op = pending[i]!;
      if (r.status >= 200 && r.status < 300) out.indexed++;
      else if (op.create && isConflict(r)) out.conflicts.push(op);
      else if (isRetriable(r)) {
        retry.push(op);
        lastProblem = `${op.index}/${op.id}: ${r.status} ${r.error?.type ?? ''} ${r.error?.reason ?? ''}`.trim();
      } else out.rejected.push({ op, status: r.status, kind: 'es_rejected', reason: `${r.error?.type ?? 'error'}: ${r.error?.reason ?? `status ${r.status}`}` });
    });
    if (retry.length > 0) opts.log?.warn({ attempt, retry: retry.length, example: lastProblem }, 'bulk items to retry');
    pending = retry;
  }
}
