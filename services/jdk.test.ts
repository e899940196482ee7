import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { candidates, listJdks, parseReleaseFile, pickKafkaJdk, type Jdk } from './jdk.js';

describe('parseReleaseFile', () => {
  it.each([
    ['JAVA_VERSION="25.0.3"\nIMPLEMENTOR="Eclipse Adoptium"', 25, '25.0.3'],
    ['IMPLEMENTOR="Debian"\nJAVA_VERSION="17.0.15"', 17, '17.0.15'],
    ['JAVA_VERSION="21"', 21, '21'],
    ['JAVA_VERSION="1.8.0_392"', 8, '1.8.0_392'],
  ])('reads %j as Java %i', (text, major, version) => {
    expect(parseReleaseFile(text)).toEqual({ major, version });
  });

  it.each([[''], ['IMPLEMENTOR="x"'], ['JAVA_VERSION="abc"']])('returns null for %j', (text) => {
    expect(parseReleaseFile(text)).toBeNull();
  });
});

describe('listJdks', () => {
  let root: string;
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function fakeJdk(name: string, version: string, withJava = true): void {
    mkdirSync(join(root, name, 'bin'), { recursive: true });
    writeFileSync(join(root, name, 'release'), `JAVA_VERSION="${version}"\n`);
    if (withJava) writeFileSync(join(root, name, 'bin', 'java'), '');
  }

  it('lists JDK homes newest first, once each, skipping dirs without bin/java', () => {
    root = mkdtempSync(join(tmpdir(), 'jvm-'));
    fakeJdk('java-17-openjdk-amd64', '17.0.15');
    fakeJdk('temurin-25-jdk-amd64', '25.0.3');
    fakeJdk('broken-21', '21.0.1', false);
    fakeJdk('java-21-openjdk', '21.0.4');
    mkdirSync(join(root, 'openjdk-17')); // Debian's doc-only dir: no release file
    symlinkSync(join(root, 'java-17-openjdk-amd64'), join(root, 'java-1.17.0-openjdk-amd64'));
    expect(listJdks(root).map((j) => j.version)).toEqual(['25.0.3', '21.0.4', '17.0.15']);
  });

  it('returns nothing for a missing root', () => {
    root = join(tmpdir(), 'does-not-exist-jvm');
    expect(listJdks(root)).toEqual([]);
  });
});

describe('JDK choice', () => {
  const jdks: Jdk[] = [
    { home: '/j25', major: 25, version: '25.0.3' },
    { home: '/j21', major: 21, version: '21.0.4' },
    { home: '/j17', major: 17, version: '17.0.15' },
    { home: '/j11', major: 11, version: '11.0.2' },
  ];

  it('Elasticsearch candidates are >= 17, newest first (25 tried before 17)', () => {
    expect(candidates(jdks, 17).map((j) => j.major)).toEqual([25, 21, 17]);
  });

  it('Kafka prefers exactly 17, else the oldest that qualifies', () => {
    expect(pickKafkaJdk(jdks, 17)?.major).toBe(17);
    expect(pickKafkaJdk(jdks.filter((j) => j.major !== 17), 17)?.major).toBe(21);
    expect(pickKafkaJdk([jdks[3]!], 17)).toBeUndefined();
  });
});
