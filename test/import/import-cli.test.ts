import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../lab/child.js';

// Other tools' data through the real CLI: `connaudit import` writes documents
// that `rules backtest --input` and `report --input` take unchanged (the
// replay decode path is proved in pipeline/import/import.test.ts).

const tmp = mkdtempSync(join(tmpdir(), 'connaudit-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
const FIX = 'test/fixtures/import';

describe('connaudit import', () => {
  const zeekOut = join(tmp, 'zeek.jsonl');
  const zeek = cli('import', 'zeek', `${FIX}/zeek-conn.tsv`, '--out', zeekOut);

  it('import zeek reports each line it cannot judge with file:line, counts everything, and exits 1', () => {
    expect(zeek.status, zeek.stderr).toBe(1);
    expect(zeek.stderr).toContain(`${FIX}/zeek-conn.tsv:15: conn_state: "XX" is not a Zeek connection state`);
    expect(zeek.stderr).toContain(`${FIX}/zeek-conn.tsv:16: (columns): 4 columns, but #fields names 22`);
    expect(zeek.stderr).toContain(`${FIX}/zeek-conn.tsv:17: id.orig_h: "10.2.0.300" is not an IP address`);
    expect(zeek.stderr).toContain('10 record(s), 6 written to');
    expect(zeek.stderr).toContain('1 skipped (1 not TCP (udp)), 3 rejected');
    expect(readFileSync(zeekOut, 'utf8').trim().split('\n')).toHaveLength(6);
  });

  it('rules backtest judges the imported documents', () => {
    const rules = join(tmp, 'rules');
    spawnSync('mkdir', ['-p', rules]);
    writeFileSync(join(rules, 'network_health_failed_call.yaml'), `- rule: Failed call
  id: 0c2f9a7e-1d3b-4e5f-8a6b-7c8d9e0f1a2b
  description: A call that was refused or never answered.
  status: test
  severity: low
  risk_score: 21
  category: network_health
  threat: {tactic: [], technique: []}
  note: 'Test rule. Tune: none.'
  type: match
  condition: {field: connaudit.conn_state, in: [REJ, S0]}
`);
    const bt = cli('rules', 'backtest', '--input', zeekOut, '--rules', rules);
    expect(bt.status, bt.stderr).toBe(0);
    const alerts = bt.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { rule: { id: string }; connaudit: { alert: { event_ids: string[] } } });
    const mine = alerts.filter((a) => a.rule.id === '0c2f9a7e-1d3b-4e5f-8a6b-7c8d9e0f1a2b');
    expect(mine).toHaveLength(2);
    expect(bt.stderr).toMatch(/backtest: 6 events/);
  });

  it('report builds the incident review from imported Zeek and Packetbeat data', () => {
    const r = cli('report', '--service', 'checkout', '--input', zeekOut, '--services', `${FIX}/services.yaml`, '--out', join(tmp, 'zeek.html'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/5 connections, 3 bad/);
    const pbOut = join(tmp, 'pb.jsonl');
    const pb = cli('import', 'ecs', `${FIX}/packetbeat-flows.jsonl`, '--out', pbOut);
    expect(pb.stderr).toContain(`${FIX}/packetbeat-flows.jsonl:6: (json): not JSON`);
    expect(pb.stderr).toMatch(/conn_state was inferred/);
    const r2 = cli('report', '--service', 'checkout', '--input', pbOut, '--services', `${FIX}/services.yaml`, '--out', join(tmp, 'pb.html'));
    expect(r2.status, r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(/\d+ connections, 1 bad/);
  });

  it('answers --help and refuses an unknown format', () => {
    const h = cli('import', '--help');
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('Usage: connaudit import <zeek|ecs>');
    const bad = cli('import', 'netflow', 'x');
    expect(bad.status).toBe(2);
  });
});
