import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';

// When a service fails to start, the user needs three things: which step
// failed, where the log is (with its last lines, so a CI log is enough), and
// what to do next.

export class ServiceError extends Error {
  constructor(
    readonly service: 'kafka' | 'elasticsearch',
    readonly stepName: string,
    message: string,
    readonly logFile: string | undefined,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }

  /** The full text shown to the user: the failure, the log path and tail, then the hint. */
  report(tailLines = 20): string {
    const lines = [`${this.service}: step '${this.stepName}' failed: ${this.message}`];
    if (this.logFile) {
      lines.push(`log: ${this.logFile}`);
      // A JVM failure ends in a long stack trace; the line that says what went wrong is above it.
      const key = errorLines(lastLines(this.logFile, 400), 5);
      if (key.length > 0) lines.push('--- error lines ---', ...key);
      const tail = lastLines(this.logFile, tailLines);
      if (tail.length > 0) lines.push(`--- last ${tail.length} lines of ${this.logFile} ---`, ...tail, '---');
      else lines.push('(the log is empty or missing)');
    }
    return lines.join('\n');
  }
}

export function lastLines(file: string, n: number): string[] {
  if (!existsSync(file)) return [];
  // Only the end of the file: a server log can be many megabytes.
  const fd = openSync(file, 'r');
  let text: string;
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    text = buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-n);
}

/** The last `n` lines that report an error (log level ERROR/FATAL, or an exception), each cut to 400 characters. */
export function errorLines(lines: string[], n: number): string[] {
  return lines
    .filter((l) => /\]\s*\[?(ERROR|FATAL)\s*\]|\b(ERROR|FATAL)\b.*\(|^(Caused by: |Exception in thread |[\w.$]+(Exception|Error): )/.test(l))
    .slice(-n)
    .map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l));
}
