import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJsonl } from '../../pipeline/slo/report/sources.js';
import { generateStorm } from '../../tools/gen/slo-storm.js';
import { UsageError, UserError } from '../command.js';
import report from './report.js';

// `connaudit report --input` on the edges of its range: the command must say
// what is wrong instead of writing an empty page or blaming flags not given.

const dir = mkdtempSync(join(tmpdir(), 'connaudit-report-cli-'));
const storm = generateStorm();
const write = (name: string, docs: unknown[]): string => {
  const p = join(dir, name);
  writeFileSync(p, docs.map((d) => JSON.stringify(d)).join('\n'));
  return p;
};
const args = (input: string, out: string, more: string[] = []) => ['--service', 'order', '--input', input, '--out', out, '--services', 'config/services.yaml', ...more];

describe('connaudit report --input', () => {
  it('reports on a file whose documents share one instant, without blaming --from/--to the user never gave', async () => {
    const input = write('one.jsonl', storm.docs.slice(0, 1));
    const out = join(dir, 'one.html');
    expect(await report.run(args(input, out))).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  it('refuses a range without documents of the service instead of writing an empty review', async () => {
    const input = write('storm.jsonl', storm.docs);
    const out = join(dir, 'empty.html');
    const err = await report.run(args(input, out, ['--from', '2020-01-01T00:00:00Z', '--to', '2020-01-02T00:00:00Z'])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/no connection documents of service 'order' between 2020-01-01T00:00:00.000Z and 2020-01-02T00:00:00.000Z/);
    expect((err as Error).message).toContain(`${input} covers `);
    expect(existsSync(out)).toBe(false);
  });

  it('orders --input documents by instant, whatever ISO form they use, and names a bad @timestamp', async () => {
    const a = structuredClone(storm.docs[0]!);
    const b = structuredClone(storm.docs[1]!);
    a['@timestamp'] = '2025-03-14T10:00:00+02:00'; // 08:00Z
    b['@timestamp'] = '2025-03-14T09:00:00.000Z';
    const { docs } = await readJsonl(write('mixed.jsonl', [b, a]));
    expect(docs.map((d) => d['@timestamp'])).toEqual(['2025-03-14T10:00:00+02:00', '2025-03-14T09:00:00.000Z']);
    const bad = structuredClone(a);
    bad['@timestamp'] = 'yesterday';
    const p = write('bad-time.jsonl', [a, bad]);
    await expect(readJsonl(p)).rejects.toThrow(`${p}:2: @timestamp: "yesterday" is not an ISO-8601 time`);
  });

  it('names the input as the end of a range it derived', async () => {
    const input = write('storm2.jsonl', storm.docs);
    const err = await report.run(args(input, join(dir, 'x.html'), ['--to', '2020-01-01T00:00:00Z'])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^the range is empty: the input's first document \(.*\) is not before --to \(2020-01-01T00:00:00.000Z\)$/);
  });
});
