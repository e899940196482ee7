import { recordToDoc } from '../lib/ecs.js';
import type { Logger } from '../lib/log.js';
import type { ConnectionRecord } from '../lib/record.js';
import type { HealthCounters, RecordSink } from './sink.js';

// `agent --output jsonl`: one ECS document per line on stdout, the exact
// document the pipeline would index. Health goes to the log (stderr), so
// stdout stays pure data for pipes and tests.
//
// Lines are gathered and written in chunks (at FLUSH_BYTES, or once per turn
// of the event loop): one write per line was a syscall per record, the
// largest single cost of this output under a connection storm.

const FLUSH_BYTES = 64 * 1024;

export class JsonlSink implements RecordSink {
  private lines: string[] = [];
  private bytes = 0;
  private scheduled: NodeJS.Immediate | null = null;
  private blocked: Promise<void> | null = null;

  constructor(private readonly out: NodeJS.WritableStream, private readonly log: Logger) {}

  async write(rec: ConnectionRecord): Promise<void> {
    const line = `${JSON.stringify(recordToDoc(rec))}\n`;
    this.lines.push(line);
    this.bytes += line.length;
    if (this.bytes >= FLUSH_BYTES) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
    // A slow reader (a pipe) holds the agent back; the sensor's bounded queue does the rest.
    if (this.blocked) await this.blocked;
  }

  private flush(): void {
    if (this.scheduled) { clearImmediate(this.scheduled); this.scheduled = null; }
    if (this.lines.length === 0) return;
    const chunk = this.lines.join('');
    this.lines = [];
    this.bytes = 0;
    if (!this.out.write(chunk) && !this.blocked) {
      this.blocked = new Promise<void>((resolve) => this.out.once('drain', () => { this.blocked = null; resolve(); }));
    }
  }

  async reportHealth(h: HealthCounters): Promise<void> {
    this.log.info({ health: h }, 'agent health');
  }

  async close(): Promise<void> {
    this.flush();
    await new Promise<void>((resolve) => this.out.write('', () => resolve()));
  }
}
