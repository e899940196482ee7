import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main.js';
import { generateStorm } from '../../tools/gen/slo-storm.js';
import { skipUnless } from '../helpers/env.js';

// The incident report rendered by a real browser: the storm goes through
// `connaudit report --input`, headless Chromium dumps the DOM after layout and
// takes a screenshot. The screenshot stays in ARTIFACTS for the lead's note.

export const ARTIFACTS = join(tmpdir(), 'connaudit-report-test');

function chromium(args: string[]): string {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  return execFileSync('/usr/bin/chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, ...args,
  ], { encoding: 'utf8', timeout: 90_000, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
}

describe('connaudit report renders in Chromium', () => {
  it('draws the burn-rate charts, the breakdowns, the alert timeline and the attribution table', async (ctx) => {
    if (await skipUnless(ctx, 'chromium')) return;
    mkdirSync(ARTIFACTS, { recursive: true });
    const input = join(ARTIFACTS, 'storm.jsonl');
    const html = join(ARTIFACTS, 'order-report.html');
    const png = join(ARTIFACTS, 'order-report.png');
    const storm = generateStorm();
    writeFileSync(input, storm.docs.map((d) => JSON.stringify(d)).join('\n'));
    const code = await main(['report', '--service', 'order', '--input', input, '--from', storm.from, '--to', storm.to, '--out', html, '--services', 'config/services.yaml']);
    expect(code).toBe(0);
    expect(readFileSync(html, 'utf8')).not.toMatch(/<script|<link|src="http/);

    const dom = chromium(['--dump-dom', `file://${html}`]);
    const count = (re: RegExp): number => (dom.match(re) ?? []).length;
    expect(count(/<svg data-chart="burn-rate-availability"/g)).toBe(1);
    expect(count(/<svg data-chart="burn-rate-connect-latency"/g)).toBe(1);
    expect(count(/data-threshold="14.4"/g)).toBe(2);
    expect(count(/<path data-series="1h" d="M/g)).toBe(2);
    expect(count(/<svg data-chart="bad-by-group"/g)).toBe(1);
    expect(dom).toMatch(/data-bar="pool-b\|reset"/);
    expect(count(/<svg data-chart="top-destinations"/g)).toBe(1);
    expect(count(/<circle data-alert="[^"]*SLO error budget burn/g)).toBe(1);
    const rows = [...dom.matchAll(/<tr data-row="attribution">(.*?)<\/tr>/gs)].map((m) => m[1]!.replace(/<[^>]+>/g, '|').replace(/\|+/g, '|'));
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows[0]).toMatch(/^\|availability\|reset\|pool-b\|inventory\|\d+\|\d+\.\d%\|/);
    process.stderr.write(`attribution rows:\n${rows.join('\n')}\n`);

    chromium([`--screenshot=${png}`, '--window-size=1280,2000', `file://${html}`]);
    const head = readFileSync(png).subarray(0, 8);
    expect(head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    // A blank 1280x2000 page compresses to a few KB; charts and tables make it far larger.
    expect(statSync(png).size).toBeGreaterThan(60_000);
    process.stderr.write(`report screenshot: ${png}\n`);
  });
});
