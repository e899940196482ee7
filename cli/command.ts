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

/** A usage error: printed with the command's help hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A failure the user can act on: `message` says what went wrong and `hint`
 * what to do next. Printed without a stack trace, exit code 1.
 */
export class UserError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'UserError';
  }
}

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
