// Progress for long steps, on stderr (stdout carries `status --json`). A step
// prints its label, a dot every couple of seconds while it runs, and how long
// it took, so a CI log shows where start-up time went.

export interface Step {
  done(note?: string): void;
  fail(note?: string): void;
}

export type Writer = (text: string) => void;

const stderrWriter: Writer = (t) => { process.stderr.write(t); };

export function formatElapsed(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

export function step(label: string, write: Writer = stderrWriter, dotEveryMs = 2000, now: () => number = Date.now): Step {
  const start = now();
  write(`${label}…`);
  const timer = setInterval(() => write('.'), dotEveryMs);
  timer.unref();
  let finished = false;
  const end = (word: string, note?: string) => {
    if (finished) return;
    finished = true;
    clearInterval(timer);
    write(` ${word} (${formatElapsed(now() - start)})${note ? `: ${note}` : ''}\n`);
  };
  return { done: (note) => end('done', note), fail: (note) => end('FAILED', note) };
}

/** A one-line message on stderr, for what is neither a step nor a log record. */
export function say(text: string, write: Writer = stderrWriter): void {
  write(`${text}\n`);
}
