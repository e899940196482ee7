import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Command } from './command.js';
import { UsageError, UserError } from '../lib/errors.js';

const VERSION = '0.1.0';

async function loadCommands(): Promise<Map<string, Command>> {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'commands');
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const files = readdirSync(dir).filter((f) => f.endsWith(ext) && !f.endsWith(`.test${ext}`) && !f.endsWith('.d.ts'));
  const commands = new Map<string, Command>();
  for (const f of files.sort()) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { default?: Command };
    if (mod.default?.name) commands.set(mod.default.name, mod.default);
  }
  return commands;
}

function topHelp(commands: Map<string, Command>): string {
  const width = Math.max(...[...commands.keys()].map((k) => k.length));
  const lines = [...commands.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `connaudit ${VERSION}: TCP connection audit for Linux fleets (eBPF -> Avro -> Kafka -> rules and SLO impact -> Elasticsearch)

Usage: connaudit <command> [options]

Commands:
${lines.join('\n')}

Run 'connaudit <command> --help' for a command's options.
Environment: KAFKA_BROKERS, ES_URL, ES_USERNAME/ES_PASSWORD or ES_API_KEY, CONNAUDIT_LOG_LEVEL.`;
}

export async function main(argv: string[]): Promise<number> {
  const commands = await loadCommands();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${topHelp(commands)}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const cmd = commands.get(name);
  if (!cmd) {
    process.stderr.write(`connaudit: unknown command '${name}'. Run 'connaudit --help' for the list.\n`);
    return 2;
  }
  if (rest.length === 0 ? false : rest[0] === '--help' || rest[0] === '-h') {
    process.stdout.write(`${cmd.help.trimEnd()}\n`);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`connaudit ${name}: ${err.message}\nRun 'connaudit ${name} --help' for usage.\n`);
      return 2;
    }
    if (err instanceof UserError) {
      // A multi-line message (every problem of a file) starts on its own line.
      const msg = err.message.includes('\n') ? `\n${err.message}` : ` ${err.message}`;
      process.stderr.write(`connaudit ${name}:${msg}\n${err.hint ? `What to do: ${err.hint}\n` : ''}`);
      return 1;
    }
    throw err;
  }
}
