import { recordToDoc } from '../lib/ecs.js';
import type { Logger } from '../lib/log.js';
import type { ConnectionRecord } from '../lib/record.js';
import type { HealthCounters, RecordSink } from './sink.js';

// `agent --output jsonl`: one ECS document per line on stdout, the exact
// document the pipeline would index. Health goes to the log (stderr), so
// stdout stays pure data for pipes and tests.

export class JsonlSink implements RecordSink {
  constructor(private readonly out: NodeJS.WritableStream, private readonly log: Logger) {}

  async write(rec: ConnectionRecord): Promise<void> {
    if (!this.out.write(`${JSON.stringify(recordToDoc(rec))}\n`)) {
      await new Promise<void>((resolve) => this.out.once('drain', () => resolve()));
    }
  }

  async reportHealth(h: HealthCounters): Promise<void> {
    this.log.info({ health: h }, 'agent health');
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.out.write('', () => resolve()));
  }
}
