// One error type for everything a user can fix: bad configuration, a rule
// file with a typo, a missing service, a wrong flag. The CLI prints these in
// one place (cli/main.ts) without a stack trace: where the problem is, what it
// is, and what to do next. Anything else is a bug and keeps its stack.

/** Where in a file a problem sits; `field` is the dotted path or key name. */
export interface SourceLocation {
  file: string;
  line?: number;
  col?: number;
  field?: string;
}

/** "file:line:col: field: " — the prefix every located problem is printed with. */
export function formatLocation(at: SourceLocation): string {
  let s = at.file;
  if (at.line !== undefined && at.line > 0) s += `:${at.line}${at.col !== undefined && at.col > 0 ? `:${at.col}` : ''}`;
  return at.field ? `${s}: ${at.field}` : s;
}

export interface UserErrorOptions {
  /** What to do next, in one sentence. */
  hint?: string;
  at?: SourceLocation;
  cause?: unknown;
}

export class UserError extends Error {
  readonly hint?: string;
  readonly at?: SourceLocation;

  /** The second argument is the hint, or the full options. */
  constructor(message: string, hintOrOpts: string | UserErrorOptions = {}) {
    const opts: UserErrorOptions = typeof hintOrOpts === 'string' ? { hint: hintOrOpts } : hintOrOpts;
    super(opts.at ? `${formatLocation(opts.at)}: ${message}` : message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.hint = opts.hint;
    this.at = opts.at;
  }
}

/** A wrong command line: printed with a pointer to --help, exit code 2. */
export class UsageError extends UserError {}

/** One located problem in a configuration or content file. */
export interface Problem extends SourceLocation {
  message: string;
}

export function formatProblem(p: Problem): string {
  return `${formatLocation(p)}: ${p.message}`;
}

/**
 * A file that failed validation, with every problem found (not just the
 * first), so an author fixes them in one pass.
 */
export class ConfigError extends UserError {
  constructor(readonly problems: Problem[], hint?: string) {
    super(problems.map(formatProblem).join('\n'), { hint, at: undefined });
  }

  /** One problem at one place. */
  static at(at: SourceLocation, message: string, hint?: string): ConfigError {
    return new ConfigError([{ ...at, message }], hint);
  }
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}
