import { describe, expect, it } from 'vitest';
import { BulkUnavailableError, bulkIndex, type ItemResult, type RawBulk } from './bulk.js';

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
    expect(r).toEqual({ indexed: 3, rejected: [] });
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
});
