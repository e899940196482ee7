import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from './main.js';

// Every command and subcommand answers --help with its usage, and usage
// mistakes exit 2 with a pointer to --help.

let out = '';
let err = '';
afterEach(() => vi.restoreAllMocks());
const capture = () => {
  out = '';
  err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true; });
};

// Every file in cli/commands/ is a command: a new one is checked without editing this list.
const COMMANDS = readdirSync(new URL('./commands/', import.meta.url))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -3));
const SUBCOMMANDS = [['services', 'up'], ['services', 'down'], ['services', 'status'], ['services', 'fetch'], ['rules', 'validate'], ['rules', 'test'], ['rules', 'backtest'], ['rules', 'schema'], ['rules', 'fields'], ['slo', 'validate'], ['slo', 'storm'], ['kibana', 'export']];

describe('connaudit CLI', () => {
  it('lists every command in the top-level help', async () => {
    capture();
    expect(await main(['--help'])).toBe(0);
    for (const c of COMMANDS) expect(out).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it.each(COMMANDS)('%s --help prints its usage', async (c) => {
    capture();
    expect(await main([c, '--help'])).toBe(0);
    expect(out).toMatch(/Usage: connaudit /);
  });

  it.each(SUBCOMMANDS)('%s %s --help prints its usage', async (c, sub) => {
    capture();
    expect(await main([c, sub, '--help'])).toBe(0);
    expect(out).toMatch(new RegExp(`Usage: connaudit ${c}`));
  });

  it('rejects an unknown command and an unknown option with exit 2', async () => {
    capture();
    expect(await main(['nope'])).toBe(2);
    expect(err).toContain("unknown command 'nope'");
    capture();
    expect(await main(['bench', '--bogus'])).toBe(2);
    expect(err).toContain("Run 'connaudit bench --help' for usage.");
  });
});
