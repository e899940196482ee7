import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool, spoolDiskBytes } from './spool.js';

function memLog() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const msg = (i: number, size = 16): Buffer => Buffer.from(`m${i}`.padEnd(size, '.'));
const frameBytes = (payload: Buffer): number => 8 + payload.length;
const segments = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.spool')).sort();

function drain(s: Spool, batch = 3): string[] {
  const out: string[] = [];
  for (;;) {
    const r = s.peek(batch);
    if (r.payloads.length === 0) return out;
    out.push(...r.payloads.map((p) => p.toString()));
    s.commit(r);
  }
}

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'spool-test-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

describe('Spool order and commit', () => {
  it('returns messages first in, first out across appends and segment rolls', () => {
    const s = Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 100 });
    for (let i = 0; i < 20; i += 4) s.append([msg(i), msg(i + 1), msg(i + 2), msg(i + 3)]);
    expect(s.stats()).toMatchObject({ records: 20, bytes: 20 * 24, dropped: 0 });
    expect(segments(dir).length).toBeGreaterThan(1);
    expect(drain(s)).toEqual(Array.from({ length: 20 }, (_, i) => msg(i).toString()));
    expect(s.stats()).toMatchObject({ records: 0, bytes: 0 });
    s.close();
  });

  it('gives the same messages again until they are committed', () => {
    const s = Spool.open({ dir, maxBytes: 1 << 20 });
    s.append([msg(1), msg(2), msg(3)]);
    const first = s.peek(2);
    expect(s.peek(2).payloads).toEqual(first.payloads);
    s.commit(first);
    expect(s.peek(10).payloads.map(String)).toEqual([msg(3).toString()]);
    s.close();
  });

  it('deletes delivered segments and leaves no file behind once drained', () => {
    // segmentBytes below one frame: every append rolls to a new segment
    const s = Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 20 });
    for (let i = 0; i < 10; i++) s.append([msg(i)]);
    expect(segments(dir).length).toBe(10);
    drain(s, 4);
    expect(segments(dir)).toEqual([]);
    expect(spoolDiskBytes(dir)).toBe(0);
    // and keeps working afterwards
    s.append([msg(99)]);
    expect(drain(s)).toEqual([msg(99).toString()]);
    s.close();
  });
});

describe('Spool bound', () => {
  it('counts everything past maxBytes as dropped and logs it as an error', () => {
    const { log, lines } = memLog();
    const s = Spool.open({ dir, maxBytes: 5 * frameBytes(msg(0)), log });
    expect(s.append([msg(0), msg(1), msg(2)])).toBe(3);
    expect(s.append([msg(3), msg(4), msg(5), msg(6)])).toBe(2);
    expect(s.append([msg(7)])).toBe(0);
    expect(s.stats()).toMatchObject({ records: 5, dropped: 3 });
    const err = lines.find((l) => l.level === 50);
    expect(err?.msg).toMatch(/spool is full/);
    expect(err?.spool_dropped).toBe(2);
    // the five that fit are intact and in order
    expect(drain(s)).toEqual([0, 1, 2, 3, 4].map((i) => msg(i).toString()));
    // after draining there is room again
    expect(s.append([msg(8)])).toBe(1);
    expect(s.stats().dropped).toBe(3);
    s.close();
  });

  it('refuses the tail of a batch rather than leave a gap inside it', () => {
    const s = Spool.open({ dir, maxBytes: frameBytes(msg(0, 40)) + frameBytes(msg(1, 4)) - 1 });
    // the big one does not fit after the small one; the small one after it must not jump the queue
    expect(s.append([msg(1, 4), msg(2, 40), msg(3, 4)])).toBe(1);
    expect(drain(s)).toEqual([msg(1, 4).toString()]);
    expect(s.stats().dropped).toBe(2);
    s.close();
  });

  it('rejects a bound that cannot hold a single frame', () => {
    expect(() => Spool.open({ dir, maxBytes: 4 })).toThrow(/maxBytes/);
  });
});

describe('Spool restart and crash recovery', () => {
  it('keeps unsent records and the committed position across a restart', () => {
    const a = Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 60 });
    a.append([msg(0), msg(1), msg(2), msg(3), msg(4)]);
    a.append([msg(5), msg(6)]);
    a.commit(a.peek(2));
    a.close();

    const b = Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 60 });
    expect(b.stats()).toMatchObject({ records: 5, bytes: 5 * 24 });
    b.append([msg(7)]);
    expect(drain(b)).toEqual([2, 3, 4, 5, 6, 7].map((i) => msg(i).toString()));
    b.close();
  });

  it('truncates a frame torn by a crash mid-write and appends after the last whole one', () => {
    const { log, lines } = memLog();
    const a = Spool.open({ dir, maxBytes: 1 << 20 });
    a.append([msg(0), msg(1), msg(2)]);
    a.close();
    const seg = join(dir, segments(dir)[0]!);
    const whole = statSync(seg).size;
    // simulate the crash: a header promising 16 bytes and only 5 of them
    const torn = Buffer.alloc(8 + 5);
    torn.writeUInt32BE(16, 0);
    appendFileSync(seg, torn);

    const b = Spool.open({ dir, maxBytes: 1 << 20, log });
    expect(statSync(seg).size).toBe(whole);
    expect(b.stats()).toMatchObject({ records: 3, discardedBytes: 13 });
    expect(lines.some((l) => l.level === 40 && String(l.msg).includes('torn frame') && l.file === seg)).toBe(true);
    b.append([msg(3)]);
    expect(drain(b)).toEqual([0, 1, 2, 3].map((i) => msg(i).toString()));
    b.close();
  });

  it('truncates a torn frame header (fewer than 8 bytes)', () => {
    const a = Spool.open({ dir, maxBytes: 1 << 20 });
    a.append([msg(0)]);
    a.close();
    appendFileSync(join(dir, segments(dir)[0]!), Buffer.from([0, 0, 0]));
    const b = Spool.open({ dir, maxBytes: 1 << 20 });
    expect(b.stats()).toMatchObject({ records: 1, discardedBytes: 3 });
    expect(drain(b)).toEqual([msg(0).toString()]);
    b.close();
  });

  it('stops at a frame whose CRC does not match', () => {
    const a = Spool.open({ dir, maxBytes: 1 << 20 });
    a.append([msg(0), msg(1), msg(2)]);
    a.close();
    const seg = join(dir, segments(dir)[0]!);
    const data = readFileSync(seg);
    data[24 + 8 + 3] = data[24 + 8 + 3]! ^ 0xff; // flip a payload byte of the second frame
    writeFileSync(seg, data);
    const b = Spool.open({ dir, maxBytes: 1 << 20 });
    expect(b.stats()).toMatchObject({ records: 1, discardedBytes: 48 });
    expect(drain(b)).toEqual([msg(0).toString()]);
    b.close();
  });

  it('treats segments before the committed one as delivered (crash between commit and delete)', () => {
    const a = Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 20 });
    a.append([msg(0)]);
    a.append([msg(1)]);
    a.append([msg(2)]);
    a.close();
    const names = segments(dir);
    expect(names.length).toBe(3);
    const second = Number(/segment-(\d+)/.exec(names[1]!)![1]);
    writeFileSync(join(dir, 'committed.json'), JSON.stringify({ segment: second, offset: 0 }));
    const b = Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 20 });
    expect(segments(dir)).toEqual(names.slice(1));
    expect(drain(b)).toEqual([msg(1).toString(), msg(2).toString()]);
    b.close();
  });

  it('replays from the oldest segment when committed.json is unreadable, and says so', () => {
    const { log, lines } = memLog();
    const a = Spool.open({ dir, maxBytes: 1 << 20 });
    a.append([msg(0), msg(1)]);
    a.close();
    writeFileSync(join(dir, 'committed.json'), '{"segment": ');
    const b = Spool.open({ dir, maxBytes: 1 << 20, log });
    expect(lines.some((l) => l.level === 50 && String(l.msg).includes('committed.json'))).toBe(true);
    expect(drain(b)).toEqual([msg(0).toString(), msg(1).toString()]);
    b.close();
  });

  it('never appends before a committed offset that lies past the end of a shortened segment', () => {
    const a = Spool.open({ dir, maxBytes: 1 << 20 });
    a.append([msg(0), msg(1)]);
    a.commit(a.peek(1));
    a.close();
    truncateSync(join(dir, segments(dir)[0]!), 10);
    const b = Spool.open({ dir, maxBytes: 1 << 20 });
    expect(b.stats().records).toBe(0);
    b.append([msg(2)]);
    expect(drain(b)).toEqual([msg(2).toString()]);
    b.close();
  });
});

describe('Spool ownership', () => {
  it('refuses a spool another live process holds, naming it, and takes over one whose owner is gone', () => {
    writeFileSync(join(dir, 'owner.pid'), `${process.ppid}\n`);
    expect(() => Spool.open({ dir, maxBytes: 1 << 20 })).toThrow(`spool ${dir} is in use by process ${process.ppid} (a running agent or replay)`);
    writeFileSync(join(dir, 'owner.pid'), '2147483646\n');
    const s = Spool.open({ dir, maxBytes: 1 << 20 });
    expect(readFileSync(join(dir, 'owner.pid'), 'utf8')).toBe(`${process.pid}\n`);
    s.close();
    expect(readdirSync(dir)).not.toContain('owner.pid');
  });
});
