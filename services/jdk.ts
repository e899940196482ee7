import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

// JDKs installed under /usr/lib/jvm, newest first. Each JDK home carries a
// `release` file with JAVA_VERSION="25.0.3"; that is cheaper and more reliable
// than starting `java -version` for each one. Debian also adds alias symlinks
// (java-1.17.0-openjdk-amd64 -> java-17-openjdk-amd64), so homes are
// de-duplicated by real path.

export interface Jdk {
  home: string;
  major: number;
  version: string;
}

export function parseReleaseFile(text: string): { version: string; major: number } | null {
  const m = /^JAVA_VERSION="?([^"\n]+)"?/m.exec(text);
  if (!m) return null;
  const version = m[1]!.trim();
  // "1.8.0_392" is Java 8; "17.0.15" and "25" are what they say.
  const parts = version.split(/[.+_-]/).map(Number);
  const major = parts[0] === 1 ? parts[1] : parts[0];
  if (major === undefined || !Number.isInteger(major) || major <= 0) return null;
  return { version, major };
}

export function listJdks(root = process.env.CONNAUDIT_JVM_ROOT ?? '/usr/lib/jvm'): Jdk[] {
  if (!existsSync(root)) return [];
  const seen = new Set<string>();
  const jdks: Jdk[] = [];
  for (const name of readdirSync(root).sort()) {
    const home = join(root, name);
    let real: string;
    try { real = realpathSync(home); } catch { continue; }
    if (seen.has(real)) continue;
    const release = join(real, 'release');
    if (!existsSync(release) || !existsSync(join(real, 'bin', 'java'))) continue;
    const parsed = parseReleaseFile(readFileSync(release, 'utf8'));
    if (!parsed) continue;
    seen.add(real);
    jdks.push({ home: real, ...parsed });
  }
  return jdks.sort((a, b) => b.major - a.major || b.version.localeCompare(a.version, undefined, { numeric: true }));
}

/** JDKs a program can run on, newest first: major within [min, max]. */
export function candidates(jdks: Jdk[], min: number, max = Infinity): Jdk[] {
  return jdks.filter((j) => j.major >= min && j.major <= max);
}

/** Kafka 3.9 and 4.x brokers are built and tested on Java 17+; prefer exactly 17 when present, else the oldest that qualifies. */
export function pickKafkaJdk(jdks: Jdk[], min: number): Jdk | undefined {
  const ok = candidates(jdks, min);
  return ok.find((j) => j.major === 17) ?? ok.at(-1);
}
