import pino from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ServiceUnreachable, StartAborted, waitFor } from './startup.js';

const capture = () => {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, new Writable({ write(c, _e, cb) { lines.push(JSON.parse(String(c)) as Record<string, unknown>); cb(); } }));
  return { log, lines };
};

describe('waitFor', () => {
  it('retries with doubling delays, names the service and place in each warning, and reports when it is back', async () => {
    const { log, lines } = capture();
    let n = 0;
    const states: boolean[] = [];
    const r = await waitFor('Elasticsearch', 'http://es:9200', async () => { if (++n < 4) throw new Error('connect ECONNREFUSED'); return 'up'; }, { log, baseDelayMs: 1, maxDelayMs: 3, onWaiting: (w) => states.push(w) });
    expect(r).toBe('up');
    const warns = lines.filter((l) => l.level === 40);
    expect(warns.map((w) => w.msg)).toEqual([1, 2, 3].map(() => expect.stringMatching(/^waiting for Elasticsearch at http:\/\/es:9200: connect ECONNREFUSED; retrying in/)));
    expect(warns.map((w) => w.retryInS)).toEqual([0.001, 0.002, 0.003]);
    expect(lines.at(-1)!.msg).toBe('Elasticsearch is reachable; starting');
    expect(states).toEqual([true, true, true, false]);
  });

  it('gives up after the timeout with the last error, and stops at once when aborted', async () => {
    const { log } = capture();
    await expect(waitFor('Kafka', 'k:9092', async () => { throw new Error('nope'); }, { log, baseDelayMs: 5, timeoutMs: 20 })).rejects.toBeInstanceOf(ServiceUnreachable);
    const ac = new AbortController();
    const p = waitFor('Kafka', 'k:9092', async () => { throw new Error('nope'); }, { log, baseDelayMs: 60_000, signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toBeInstanceOf(StartAborted);
  });
});
