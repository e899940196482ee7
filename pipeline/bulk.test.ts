import { describe, expect, it } from 'vitest';
import { BulkUnavailableError, MAX_ID_BYTES, bulkIndex, type ItemResult, type RawBulk } from './bulk.js';

const ops = (ids: string[]) => ids.map((id) => ({ index: 'i', id, doc: { id }, tag: id }));
const noSleep = { sleep: async () => undefined };

/** An in-memory Elasticsearch whose answer per id and attempt is scripted. */
function scripted(script: Record<string, ItemResult[]>): RawBulk & { calls: string[][] } {
  const seen: Record<string, number> = {};
  const calls: string[][] = [];
  const fn = (async (batch) => {
    calls.push(batch.map((o) => o.id));
    return batch.map((o) => {
      const n = seen[o.id] ?? 0;
      seen[o.id] = n + 1;
      const answers = script[o.id] ?? [{ status: 201 }];
      return answers[Math.min(n, answers.length - 1)]!;
    });
  }) as RawBulk & { calls: string[][] };
  fn.calls = calls;
  return fn;
}

describe('bulkIndex', () => {
  it('retries only the items that got 429/5xx, and succeeds when they do', async () => {
    const raw = scripted({ b: [{ status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } }, { status: 201 }], c: [{ status: 503 }, { status: 200 }] });
    const r = await bulkIndex(raw, ops(['a', 'b', 'c']), noSleep);
    expect(r).toEqual({ indexed: 3, rejected: [], conflicts: [] });
    expect(raw.calls).toEqual([['a', 'b', 'c'], ['b', 'c']]);
  });

  it('splits a request Elasticsearch finds too large (413) until the parts fit, and rejects a document too large on its own', async () => {
    const calls: string[][] = [];
    const tooLarge = Object.assign(new Error('Request Entity Too Large'), { meta: { statusCode: 413 } });
    // Accepts at most 2 documents per request, and never document "huge".
    const raw: RawBulk = async (batch) => {
      calls.push(batch.map((o) => o.id));
      if (batch.length > 2 || batch.some((o) => o.id === 'huge')) throw tooLarge;
      return batch.map(() => ({ status: 201 }));
    };
    const r = await bulkIndex(raw, ops(['a', 'b', 'c', 'd', 'huge']), noSleep);
    expect(r.indexed).toBe(4);
    expect(r.rejected.map((x) => [x.op.id, x.status])).toEqual([['huge', 413]]);
    expect(calls[0]).toEqual(['a', 'b', 'c', 'd', 'huge']);
    expect(calls.every((c) => c.length <= 5)).toBe(true);
  });

  it('hands back a permanent per-document error with the ES reason, without retrying it', async () => {
    const raw = scripted({ b: [{ status: 400, error: { type: 'document_parsing_exception', reason: '[1:2] failed to parse field [source.ip] of type [ip]' } }] });
    const r = await bulkIndex(raw, ops(['a', 'b', 'c']), noSleep);
    expect(r.indexed).toBe(2);
    expect(r.rejected).toHaveLength(1);
    expect(r.rejected[0]!.op.tag).toBe('b');
    expect(r.rejected[0]!.reason).toBe('document_parsing_exception: [1:2] failed to parse field [source.ip] of type [ip]');
    expect(raw.calls).toHaveLength(1);
  });

  it('treats a closed index as unavailable (retry, then fail the batch), not as a bad document', async () => {
    const closed: ItemResult = { status: 400, error: { type: 'index_closed_exception', reason: 'closed' } };
    const raw = scripted({ a: [closed] });
    await expect(bulkIndex(raw, ops(['a']), { ...noSleep, attempts: 3 })).rejects.toBeInstanceOf(BulkUnavailableError);
    expect(raw.calls).toHaveLength(3);
  });

  it('retries a failed request and reports the last problem when it keeps failing', async () => {
    let n = 0;
    const raw: RawBulk = async () => {
      n++;
      throw new Error('connect ECONNREFUSED 127.0.0.1:9');
    };
    await expect(bulkIndex(raw, ops(['a']), { ...noSleep, attempts: 2 })).rejects.toThrow(/after 2 attempts: bulk request failed: connect ECONNREFUSED/);
    expect(n).toBe(2);
  });

  it('backs off exponentially up to the cap', async () => {
    const delays: number[] = [];
    const raw = scripted({ a: [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }, { status: 201 }] });
    await bulkIndex(raw, ops(['a']), { sleep: async (ms) => { delays.push(ms); }, baseDelayMs: 100, maxDelayMs: 300 });
    expect(delays).toEqual([100, 200, 300, 300]);
  });

  it('refuses an id over 512 bytes before sending, so it cannot fail the whole request', async () => {
    const long = 'é'.repeat(MAX_ID_BYTES / 2 + 1); // 257 characters, 514 UTF-8 bytes
    const raw = scripted({});
    const r = await bulkIndex(raw, ops(['a', long, 'c']), noSleep);
    expect(r.indexed).toBe(2);
    expect(r.rejected.map((x) => [x.op.tag, x.kind])).toEqual([[long, 'id_too_long']]);
    expect(r.rejected[0]!.reason).toMatch(/514 bytes.*at most 512 bytes/);
    expect(raw.calls).toEqual([['a', 'c']]);
  });

  it('halves a request Elasticsearch refuses as a whole (400) until the document at fault stands alone, instead of retrying it', async () => {
    const calls: string[][] = [];
    const invalid = Object.assign(new Error('action_request_validation_exception'), { meta: { statusCode: 400, body: { error: { type: 'action_request_validation_exception', reason: 'Validation Failed: 1: something about bad;' } } } });
    const raw: RawBulk = async (batch) => {
      calls.push(batch.map((o) => o.id));
      if (batch.some((o) => o.id === 'bad')) throw invalid;
      return batch.map(() => ({ status: 201 }));
    };
    const r = await bulkIndex(raw, ops(['a', 'b', 'c', 'bad', 'd', 'e', 'f']), noSleep);
    expect(r.indexed).toBe(6);
    expect(r.rejected.map((x) => [x.op.id, x.status, x.kind, x.reason])).toEqual([['bad', 400, 'es_rejected', 'action_request_validation_exception: Validation Failed: 1: something about bad;']]);
    // 7 -> 4+3 -> (2+2) -> (1+1): never the same failing request twice.
    expect(calls.filter((c) => c.includes('bad')).map((c) => c.length)).toEqual([7, 4, 2, 1]);
  });

  it('still retries a request that failed for the cluster (401/429/5xx, no answer), and only those', async () => {
    let n = 0;
    const raw: RawBulk = async (batch) => {
      n++;
      if (n === 1) throw Object.assign(new Error('Too Many Requests'), { meta: { statusCode: 429 } });
      return batch.map(() => ({ status: 201 }));
    };
    const r = await bulkIndex(raw, ops(['a', 'b']), noSleep);
    expect(r.indexed).toBe(2);
    expect(n).toBe(2);
  });

  it('hands back 409 on create as a conflict (not a rejection, not a retry)', async () => {
    const raw = scripted({ b: [{ status: 409, error: { type: 'version_conflict_engine_exception', reason: '[b]: version conflict, document already exists' } }] });
    const r = await bulkIndex(raw, ops(['a', 'b']).map((o) => ({ ...o, create: true })), noSleep);
    expect(r.indexed).toBe(1);
    expect(r.rejected).toEqual([]);
    expect(r.conflicts.map((c) => c.id)).toEqual(['b']);
    expect(raw.calls).toHaveLength(1);
  });

  it('reports each request duration and outcome to the observer (the bulk latency histogram)', async () => {
    const seen: string[] = [];
    const raw = scripted({ a: [{ status: 503 }, { status: 201 }] });
    await bulkIndex(raw, ops(['a']), { ...noSleep, observe: (secs, outcome) => { expect(secs).toBeGreaterThanOrEqual(0); seen.push(outcome); } });
    expect(seen).toEqual(['ok', 'ok']);
  });
});
