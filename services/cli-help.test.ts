import { afterEach, describe, expect, it, vi } from 'vitest';
import command from '../cli/commands/services.js';

// Every subcommand answers --help (project rule) without touching services.

describe('connaudit services --help', () => {
  afterEach(() => vi.restoreAllMocks());

  async function run(argv: string[]): Promise<{ code: number; out: string }> {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => { out += String(chunk); return true; });
    const code = await command.run(argv);
    return { code, out };
  }

  it('has top-level help listing the subcommands', () => {
    for (const sub of ['up', 'down', 'status', 'fetch']) expect(command.help).toContain(`  ${sub} `);
  });

  it.each([
    ['up', '--kafka-only'],
    ['down', '--timeout'],
    ['status', '--json'],
    ['fetch', 'Maven Central'],
  ])('%s --help prints its usage', async (sub, mentions) => {
    const { code, out } = await run([sub, '--help']);
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`^Usage: connaudit services ${sub}`));
    expect(out).toContain(mentions);
  });

  it('rejects unknown subcommands and bad flags as usage errors', async () => {
    await expect(command.run(['restart'])).rejects.toThrow(/unknown subcommand 'restart'/);
    await expect(command.run([])).rejects.toThrow(/which subcommand/);
    await expect(command.run(['up', '--kafka-only', '--es-only'])).rejects.toThrow(/exclude each other/);
    await expect(command.run(['up', '--timeout', 'soon'])).rejects.toThrow(/positive number of seconds/);
  });
});
