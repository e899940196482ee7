import { parseArgs, type ParseArgsConfig } from 'node:util';

// One file per top-level command in cli/commands/, discovered at start-up, so
// adding a command never means editing a shared registry.

export interface Command {
  name: string;
  /** One line for `connaudit --help`. */
  summary: string;
  /** Full text for `connaudit NAME --help`. */
  help: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

// The user-error types live in lib/ so that every module can raise them;
// cli/main.ts prints them in one place.
export { UsageError, UserError } from '../lib/errors.js';
import { UsageError } from '../lib/errors.js';

export function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** parseArgs with strict checking, turning its errors into UsageErrors. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
