import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { errorLines, lastLines, ServiceError } from './errors.js';

describe('ServiceError.report', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names the service, the step, the log file and shows its last lines', () => {
    dir = mkdtempSync(join(tmpdir(), 'err-'));
    const log = join(dir, 'server.log');
    writeFileSync(log, `${Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n')}\n`);
    const e = new ServiceError('kafka', 'wait for health', 'the broker process exited', log, 'remove .run/kafka');
    const r = e.report(20);
    expect(r.split('\n')[0]).toBe("kafka: step 'wait for health' failed: the broker process exited");
    expect(r).toContain(`log: ${log}`);
    expect(r).toContain('line 11\n');
    expect(r).toContain('line 30');
    expect(r).not.toContain('line 10\n');
    expect(e.hint).toBe('remove .run/kafka');
  });

  it('says so when the log is missing', () => {
    dir = mkdtempSync(join(tmpdir(), 'err-'));
    expect(new ServiceError('elasticsearch', 'start', 'x', join(dir, 'nope.log'), 'h').report()).toContain('(the log is empty or missing)');
  });
});

describe('lastLines', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads only the end of a large file', () => {
    dir = mkdtempSync(join(tmpdir(), 'err-'));
    const f = join(dir, 'big.log');
    writeFileSync(f, `${'x'.repeat(200_000)}\nsecond to last\nlast\n`);
    expect(lastLines(f, 2)).toEqual(['second to last', 'last']);
  });
});

describe('errorLines', () => {
  it('picks the lines that say what failed, not the stack frames', () => {
    const log = [
      '[2026-11-22T02:05:37,710][INFO ][o.e.n.Node] [n] starting ...',
      '[2026-11-22T02:05:38,127][ERROR][o.e.b.Elasticsearch] [n] fatal exception while booting Elasticsearch',
      'org.elasticsearch.transport.BindTransportException: Failed to bind to 127.0.0.1:9300',
      '\tat org.elasticsearch.transport.TcpTransport.bindToPort(TcpTransport.java:513)',
      'Caused by: java.net.BindException: Address already in use',
      '[2026-11-22 01:49:30,764] INFO Kafka startTimeMs: 1795312170763 (org.apache.kafka.common.utils.AppInfoParser)',
      '[2026-11-22 01:49:31,000] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)',
    ];
    expect(errorLines(log, 10)).toEqual([log[1], log[2], log[4], log[6]]);
    expect(errorLines(log, 1)).toEqual([log[6]]);
  });
});
