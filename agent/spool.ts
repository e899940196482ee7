import {
  closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync,
  readdirSync, renameSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../lib/log.js';
import { pidAlive } from '../lib/pid.js';

// The agent's on-disk spool: a bounded FIFO of opaque messages that survives a
// crash, used while Kafka is unreachable.
//
// Layout of the spool directory:
//   segment-<20-digit seq>.spool  append-only; each frame is
//                                 u32 BE payload length | u32 BE CRC-32 of payload | payload
//   committed.json                {"segment": seq, "offset": bytes}: everything before this
//                                 position has been acknowledged by Kafka
//   owner.pid                     pid of the one process using the spool (see lock())
//
// Crash safety:
// - A crash mid-append leaves a short or CRC-failing frame at the tail of the
//   newest segment. open() finds it, truncates the segment back to the last
//   whole frame and logs what it cut, so later appends never land behind garbage.
// - committed.json is replaced atomically (write tmp, fsync, rename, fsync dir),
//   so it is always either the old or the new position, never torn.
// - A crash after Kafka acknowledged a batch but before commit() replays that
//   batch after restart: delivery is at least once. The pipeline's document ids
//   are deterministic (lib/ids.ts), so a replayed record overwrites itself.
//
// fsync policy ('batch', the default): one fsync of the segment per append()
// call (the KafkaSink appends one batch per call) and one for every commit.
// 'none' leaves flushing to the kernel: faster, but a power loss (not a process
// crash) can lose the most recent appends.
//
// The I/O is synchronous on purpose: the spool is used only while Kafka is
// down, its batches are small, and doing each append/commit as one step keeps
// ordering trivially correct (no interleaving of half-done async writes).

export type FsyncPolicy = 'batch' | 'none';

export interface SpoolOptions {
  dir: string;
  /** Bound on unsent data (frame bytes). Appends beyond it are counted as dropped. */
  maxBytes: number;
  /** A segment is closed and a new one started once it reaches this size. */
  segmentBytes?: number;
  fsync?: FsyncPolicy;
  log?: Logger;
}

export interface SpoolPosition { segment: number; offset: number }

export interface SpoolStats {
  /** Messages waiting to be sent. */
  records: number;
  /** Frame bytes (header + payload) waiting to be sent; this is what maxBytes bounds. */
  bytes: number;
  /** Messages refused because the spool was full, since this process opened it. */
  dropped: number;
  /** Bytes discarded at open() because a frame was torn or failed its CRC. */
  discardedBytes: number;
}

export interface SpoolRead {
  payloads: Buffer[];
  /** Pass to commit() once the payloads were acknowledged downstream. */
  end: SpoolPosition;
  bytes: number;
}

const FRAME_HEADER = 8;
const COMMITTED = 'committed.json';
const LOCK = 'owner.pid';

const SEGMENT_RE = /^segment-(\d{20})\.spool$/;
const DEFAULT_SEGMENT_BYTES = 4 * 1024 * 1024;
/** While full, log a drop line at most this often; the count itself is exact. */
const DROP_LOG_EVERY_MS = 10_000;

const segmentName = (seq: number): string => `segment-${String(seq).padStart(20, '0')}.spool`;

interface Segment { seq: number; size: number }

export class Spool {
  private readonly dir: string;
  private readonly maxBytes: number;
  private readonly segmentBytes: number;
  private readonly fsyncPolicy: FsyncPolicy;
  private readonly log: Logger | undefined;
  /** Segments still holding unsent frames, oldest first; the last one is written to. */
  private segments: Segment[] = [];
  private committed: SpoolPosition = { segment: 1, offset: 0 };
  private writeFd: number | null = null;
  private recordCount = 0;
  private byteCount = 0;
  private droppedCount = 0;
  private discarded = 0;
  private lastDropLog = 0;
  private droppedSinceLog = 0;
  private locked = false;

  private constructor(opts: SpoolOptions) {
    if (!(opts.maxBytes > FRAME_HEADER)) throw new Error(`spool maxBytes must be more than ${FRAME_HEADER}, got ${opts.maxBytes}`);
    this.dir = opts.dir;
    this.maxBytes = opts.maxBytes;
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.fsyncPolicy = opts.fsync ?? 'batch';
    this.log = opts.log;
  }

  /** Opens (or creates) the spool in opts.dir and recovers from any earlier crash. */
  static open(opts: SpoolOptions): Spool {
    const s = new Spool(opts);
    mkdirSync(s.dir, { recursive: true });
    s.lock();
    try {
      s.recover();
    } catch (err) {
      s.unlock();
      throw err;
    }
    return s;
  }

  /**
   * One process per spool: `agent --replay` uses the live agent's spool, and
   * two writers appending and committing the same segments would corrupt it.
   * The lock names its owner's pid; a lock whose process is gone is taken over.
   */
  private lock(): void {
    const file = join(this.dir, LOCK);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx');
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        this.locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = Number(readFileSync(file, 'utf8').trim());
      if (owner > 0 && owner !== process.pid && pidAlive(owner)) {
        throw new Error(`spool ${this.dir} is in use by process ${owner} (a running agent or replay); stop it first, or give this run another spool.dir`);
      }
      this.log?.warn({ dir: this.dir, stale_pid: owner }, 'spool lock left by a process that is gone; taking it over');
      unlinkSync(file);
    }
    throw new Error(`could not lock spool ${this.dir}`);
  }

  private unlock(): void {
    if (!this.locked) return;
    this.locked = false;
    try { unlinkSync(join(this.dir, LOCK)); } catch { /* already gone */ }
  }

  stats(): SpoolStats {
    return { records: this.recordCount, bytes: this.byteCount, dropped: this.droppedCount, discardedBytes: this.discarded };
  }

  get records(): number {
    return this.recordCount;
  }

  /**
   * Appends the payloads in order, as one write and (policy 'batch') one fsync.
   * Payloads that would take the spool past maxBytes are refused and counted as
   * dropped; once one is refused, the later ones in the call are refused too,
   * so the spool never holds a gap in the middle of a batch.
   * Returns how many were stored.
   */
  append(payloads: Buffer[]): number {
    const frames: Buffer[] = [];
    let bytes = 0;
    for (const p of payloads) {
      const need = FRAME_HEADER + p.length;
      if (this.byteCount + bytes + need > this.maxBytes) break;
      const h = Buffer.allocUnsafe(FRAME_HEADER);
      h.writeUInt32BE(p.length, 0);
      h.writeUInt32BE(crc32(p), 4);
      frames.push(h, p);
      bytes += need;
    }
    const stored = frames.length / 2;
    if (stored < payloads.length) this.countDropped(payloads.length - stored);
    if (stored === 0) return 0;

    const seg = this.writableSegment();
    const fd = this.writeFd!;
    try {
      writeSync(fd, Buffer.concat(frames, bytes));
      if (this.fsyncPolicy === 'batch') fsyncSync(fd);
    } catch (err) {
      // ENOSPC or EIO: cut the segment back so no torn frame sits before the next append.
      try { ftruncateSync(fd, seg.size); } catch { /* the next open() truncates it instead */ }
      this.countDropped(stored);
      this.log?.error({ err, file: join(this.dir, segmentName(seg.seq)), records: stored }, 'spool write failed; these records are counted as spool_dropped. Free disk space or move the spool directory');
      return 0;
    }
    seg.size += bytes;
    this.recordCount += stored;
    this.byteCount += bytes;
    return stored;
  }

  /**
   * Reads up to maxRecords (and about maxBytes) from the head of the spool
   * without removing them. The same messages come back until commit().
   */
  peek(maxRecords: number, maxBytes = 1024 * 1024): SpoolRead {
    const payloads: Buffer[] = [];
    let pos = { ...this.committed };
    let bytes = 0;
    for (const seg of this.segments) {
      if (seg.seq < pos.segment) continue;
      if (seg.seq > pos.segment) pos = { segment: seg.seq, offset: 0 };
      if (pos.offset >= seg.size) continue;
      const fd = openSync(join(this.dir, segmentName(seg.seq)), 'r');
      try {
        while (pos.offset < seg.size && payloads.length < maxRecords && (bytes < maxBytes || payloads.length === 0)) {
          const header = Buffer.alloc(FRAME_HEADER);
          readSync(fd, header, 0, FRAME_HEADER, pos.offset);
          const len = header.readUInt32BE(0);
          const payload = Buffer.alloc(len);
          readSync(fd, payload, 0, len, pos.offset + FRAME_HEADER);
          payloads.push(payload);
          pos = { segment: seg.seq, offset: pos.offset + FRAME_HEADER + len };
          bytes += FRAME_HEADER + len;
        }
      } finally {
        closeSync(fd);
      }
      if (payloads.length >= maxRecords || bytes >= maxBytes) break;
    }
    return { payloads, end: pos, bytes };
  }

  /** Marks everything up to `read.end` as delivered and frees segments that are done. */
  commit(read: SpoolRead): void {
    if (read.payloads.length === 0) return;
    this.committed = { ...read.end };
    this.recordCount -= read.payloads.length;
    this.byteCount -= read.bytes;
    const last = this.segments[this.segments.length - 1];
    if (this.recordCount === 0 && last) {
      // Drained: start the next append in a fresh segment so the old ones can go.
      this.closeWriter();
      this.committed = { segment: last.seq + 1, offset: 0 };
    }
    this.writeCommitted();
    // Delete only after the new position is durable: a crash in between leaves
    // an old segment that open() recognises as already delivered.
    const done = this.segments.filter((s) => s.seq < this.committed.segment);
    this.segments = this.segments.filter((s) => s.seq >= this.committed.segment);
    for (const s of done) unlinkSync(join(this.dir, segmentName(s.seq)));
  }

  close(): void {
    this.closeWriter();
    this.unlock();
  }

  private countDropped(n: number): void {
    this.droppedCount += n;
    this.droppedSinceLog += n;
    const now = Date.now();
    if (now - this.lastDropLog >= DROP_LOG_EVERY_MS) {
      this.log?.error(
        { spool_dropped: this.droppedCount, dropped_now: this.droppedSinceLog, max_bytes: this.maxBytes, dir: this.dir },
        'spool is full: records are being dropped (counted as spool_dropped). Restore Kafka connectivity or raise the spool bound',
      );
      this.lastDropLog = now;
      this.droppedSinceLog = 0;
    }
  }

  private writableSegment(): Segment {
    let seg = this.segments[this.segments.length - 1];
    if (seg && seg.size >= this.segmentBytes) {
      this.closeWriter();
      seg = undefined;
      const next = this.segments[this.segments.length - 1]!.seq + 1;
      this.segments.push((seg = { seq: next, size: 0 }));
    }
    if (!seg) this.segments.push((seg = { seq: this.committed.segment, size: 0 }));
    if (this.writeFd === null) {
      this.writeFd = openSync(join(this.dir, segmentName(seg.seq)), 'a');
      if (this.fsyncPolicy === 'batch' && seg.size === 0) this.fsyncDir();
    }
    return seg;
  }

  private closeWriter(): void {
    if (this.writeFd !== null) closeSync(this.writeFd);
    this.writeFd = null;
  }

  private writeCommitted(): void {
    const file = join(this.dir, COMMITTED);
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(this.committed));
      if (this.fsyncPolicy === 'batch') fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    if (this.fsyncPolicy === 'batch') this.fsyncDir();
  }

  private fsyncDir(): void {
    const fd = openSync(this.dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  }

  private readCommitted(firstSeq: number | undefined): SpoolPosition {
    const file = join(this.dir, COMMITTED);
    if (!existsSync(file)) return { segment: firstSeq ?? 1, offset: 0 };
    try {
      const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<SpoolPosition>;
      if (Number.isInteger(v.segment) && Number.isInteger(v.offset) && v.segment! > 0 && v.offset! >= 0) {
        return { segment: v.segment!, offset: v.offset! };
      }
      throw new Error('segment and offset must be non-negative integers');
    } catch (err) {
      // Resending is safe (ids are deterministic); skipping would lose records.
      this.log?.error({ err, file }, `${file}: unreadable committed position; replaying the whole spool from its oldest segment`);
      return { segment: firstSeq ?? 1, offset: 0 };
    }
  }

  private recover(): void {
    mkdirSync(this.dir, { recursive: true });
    const seqs = readdirSync(this.dir)
      .map((f) => SEGMENT_RE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    this.committed = this.readCommitted(seqs[0]);
    for (const seq of seqs) {
      const path = join(this.dir, segmentName(seq));
      if (seq < this.committed.segment) {
        unlinkSync(path); // delivered; a crash came between commit and delete
        continue;
      }
      const start = seq === this.committed.segment ? this.committed.offset : 0;
      const { size, records, bytes } = this.scan(path, start);
      // A segment shorter than its committed offset lost data outside our control
      // (a disk problem); appends must not land before the committed position.
      if (seq === this.committed.segment && size < start) this.committed = { segment: seq, offset: size };
      this.segments.push({ seq, size });
      this.recordCount += records;
      this.byteCount += bytes;
    }
    if (this.recordCount > 0) {
      this.log?.info({ dir: this.dir, records: this.recordCount, bytes: this.byteCount }, 'spool holds records from an earlier run; they are sent before new ones');
    }
  }

  /** Validates every frame from `start`; truncates the file at the first bad one. */
  private scan(path: string, start: number): { size: number; records: number; bytes: number } {
    const data = readFileSync(path);
    let off = Math.min(start, data.length);
    let records = 0;
    let problem: string | null = null;
    while (off < data.length) {
      if (data.length - off < FRAME_HEADER) { problem = 'torn frame header'; break; }
      const len = data.readUInt32BE(off);
      if (data.length - off - FRAME_HEADER < len) { problem = `torn frame: header says ${len} bytes, ${data.length - off - FRAME_HEADER} present`; break; }
      const payload = data.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len);
      if (crc32(payload) !== data.readUInt32BE(off + 4)) { problem = 'CRC mismatch'; break; }
      off += FRAME_HEADER + len;
      records++;
    }
    if (problem) {
      const cut = data.length - off;
      this.discarded += cut;
      this.log?.warn({ file: path, offset: off, discarded_bytes: cut }, `${path}: ${problem} at byte ${off} (left by a crash mid-write); truncated ${cut} bytes`);
      const fd = openSync(path, 'r+');
      try { ftruncateSync(fd, off); fsyncSync(fd); } finally { closeSync(fd); }
    }
    return { size: off, records, bytes: off - Math.min(start, data.length) };
  }
}

/** Bytes the spool's segment files take on disk (for health and tests). */
export function spoolDiskBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).filter((f) => SEGMENT_RE.test(f)).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}
