import { existsSync, readFileSync, writeFileSync } from 'node:fs';

// What `up` recorded about a running service, so `status` can report the
// version, JDK and start time without asking the process.

export interface StartedState {
  service: 'kafka' | 'elasticsearch';
  version: string;
  jdk: { home: string; version: string; major: number };
  startedAt: string;
  endpoint: string;
  dataDir: string;
  logFile: string;
  /** Why this JDK: e.g. that a newer one was tried and failed. */
  jdkNote?: string;
}

export function writeState(file: string, s: StartedState): void {
  writeFileSync(file, `${JSON.stringify(s, null, 2)}\n`);
}

export function readState(file: string): StartedState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StartedState;
  } catch {
    return undefined;
  }
}
