import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startElasticsearch, stopElasticsearch } from '../../services/elasticsearch.js';
import { ServiceError } from '../../services/errors.js';
import { fetchElasticsearch } from '../../services/fetch.js';
import { listJdks } from '../../services/jdk.js';
import { ensureEsBaseDirs, esRunBase } from '../../services/layout.js';
import { readState } from '../../services/state.js';

// The unhappy paths of starting Elasticsearch, for real: a JDK that cannot
// run it (the newest-first choice must fall back to the next one), and a
// node that cannot start at all (the error must name the step, the log and
// its last lines). Extra instances use their own dirs and ports; the default
// node on 9200 is not touched.

const JVM_ROOT = join(esRunBase, 'test-fake-jvm');
const reals = listJdks('/usr/lib/jvm').filter((j) => j.major >= 17);
const real = reals[0];

beforeAll(async () => {
  await fetchElasticsearch();
  ensureEsBaseDirs();
  if (!real) throw new Error('no JDK >= 17 under /usr/lib/jvm: install openjdk-17-jdk-headless');
  rmSync(JVM_ROOT, { recursive: true, force: true });
  // A "JDK 99" that is newest, so it is tried first, and fails the way an unsupported JDK does: at launch.
  mkdirSync(join(JVM_ROOT, 'fake-99', 'bin'), { recursive: true });
  writeFileSync(join(JVM_ROOT, 'fake-99', 'release'), 'JAVA_VERSION="99.0.1"\n');
  writeFileSync(join(JVM_ROOT, 'fake-99', 'bin', 'java'), '#!/bin/sh\necho "fake JDK 99: this Java cannot run Elasticsearch" >&2\nexit 1\n');
  chmodSync(join(JVM_ROOT, 'fake-99', 'bin', 'java'), 0o755);
  for (const d of [JVM_ROOT, join(JVM_ROOT, 'fake-99'), join(JVM_ROOT, 'fake-99', 'bin')]) chmodSync(d, 0o755);
  for (const [i, j] of reals.entries()) symlinkSync(j.home, join(JVM_ROOT, `real-${i}`));
  process.env.CONNAUDIT_JVM_ROOT = JVM_ROOT;
}, 240_000);

afterAll(() => {
  delete process.env.CONNAUDIT_JVM_ROOT;
  rmSync(JVM_ROOT, { recursive: true, force: true });
});

describe('JDK fallback', () => {
  const dir = join(esRunBase, 'test-jdk-fallback');
  afterEach(async () => {
    await stopElasticsearch(dir, 'connaudit-jdktest', 30_000, 'jdk-fallback-test');
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('tries the newest JDK first and falls back to the next when it fails at launch', async () => {
    rmSync(dir, { recursive: true, force: true });
    const inst = await startElasticsearch({
      dir, httpPort: 9202, transportPort: 9302, security: false, clusterName: 'connaudit-jdktest', heapMb: 384, timeoutMs: 180_000,
    }, 'jdk-fallback-test');
    expect(inst.jdk?.home).toBe(real!.home);
    expect(readFileSync(join(dir, 'logs', 'console-jdk99.log'), 'utf8')).toContain('fake JDK 99');
    expect(readState(join(dir, 'started.json'))?.jdkNote).toContain('JDK 99.0.1: exit code');
  }, 240_000);
});

describe('start failure', () => {
  const dir = join(esRunBase, 'test-start-failure');
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('names the step, the log file and shows the log tail when the node cannot start', async () => {
    rmSync(dir, { recursive: true, force: true });
    // Hold a port so the node's transport cannot bind it.
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    const err = await startElasticsearch({
      dir, httpPort: 9203, transportPort: taken, security: false, clusterName: 'connaudit-failtest', heapMb: 384, timeoutMs: 180_000,
    }, 'start-failure-test').then(() => undefined, (e: unknown) => e).finally(() => blocker.close());
    expect(err).toBeInstanceOf(ServiceError);
    const e = err as ServiceError;
    expect(e.stepName).toBe('start');
    // The fake JDK fails before the node logs anything, so the next JDK is tried; the real one gets as far as
    // logging and then fails on the port, so no further JDK is tried: that would not help.
    expect(e.message).toMatch(/^the node failed to start \(JDK 99\.0\.1: exit code \d+; JDK [\d.]+: exit code \d+\)$/);
    expect(e.logFile && existsSync(e.logFile)).toBe(true);
    const report = e.report();
    expect(report).toContain(`log: ${e.logFile}`);
    expect(report).toMatch(/--- error lines ---\n(.*\n)?.*BindTransportException: Failed to bind to 127\.0\.0\.1:(\d+)/);
    expect(/Failed to bind to 127\.0\.0\.1:(\d+)/.exec(report)?.[1]).toBe(String(taken));
    expect(e.hint).toMatch(/port conflict/);
  }, 240_000);
});
