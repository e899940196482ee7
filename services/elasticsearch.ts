import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, openSync, rmSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { ClientOptions } from '@elastic/elasticsearch';
import { elasticsearchYml, heapOptions } from './es-config.js';
import { probeEs, type EsProbe } from './es-client.js';
import { blockingAncestor, chownTree, esRunAs, type RunAs } from './es-user.js';
import { ServiceError } from './errors.js';
import { ensureAnalysisShim } from './es-shim.js';
import { fetchElasticsearch } from './fetch.js';
import { candidates, listJdks, type Jdk } from './jdk.js';
import {
  ensureEsBaseDirs, ES_HTTP_PORT, ES_MIN_JAVA, ES_RELOCATED, ES_MAJOR, ES_TRANSPORT_PORT, ES_VERSION, esDefaultInstanceDir, esHome, RUN_DIR,
} from './layout.js';
import { livePid, portOpen, stopPid, waitUntil } from './proc.js';
import { say, step } from './progress.js';
import { readState, writeState } from './state.js';

// One Elasticsearch node from the integ-test-zip, in its own instance dir
// (config, data, logs, tmp, pid). `services up` starts the default instance;
// the security integration test starts a second one through the same
// function, so both go down the same code path.

/** The server JVM's main module: how we recognise the process in /proc. */
const MARKER = 'org.elasticsearch';

export interface FileRealmUser {
  username: string;
  password: string;
  roles: string[];
}

export interface EsInstanceOptions {
  /** Instance dir; config/, data/, logs/, tmp/ and the pid file live under it. */
  dir: string;
  httpPort: number;
  transportPort: number;
  security: boolean;
  clusterName: string;
  heapMb?: number;
  timeoutMs: number;
  /** File-realm users to (re)create before start; needed to talk to a secured node at all. */
  users?: FileRealmUser[];
  /** A healthy node on httpPort that this instance dir did not start (another checkout, a manual start) counts as up. */
  acceptForeign?: boolean;
  /** With security: serve HTTPS with this PEM certificate and key; ca is what clients trust. */
  httpTls?: { certificate: string; key: string; ca: string };
}

export interface EsInstance {
  url: string;
  /** undefined for a foreign node (see acceptForeign). */
  pid: number | undefined;
  jdk: Jdk | undefined;
  /** Credentials that reach this instance (the first file-realm user), for health checks. */
  clientOptions: ClientOptions;
  logFile: string;
  alreadyRunning: boolean;
}

export const defaultEsInstance = (timeoutMs: number): EsInstanceOptions => ({
  dir: esDefaultInstanceDir,
  httpPort: ES_HTTP_PORT,
  transportPort: ES_TRANSPORT_PORT,
  security: false,
  clusterName: 'connaudit-local',
  heapMb: 512,
  timeoutMs,
  acceptForeign: true,
});

const paths = (dir: string, clusterName: string) => ({
  config: join(dir, 'config'),
  data: join(dir, 'data'),
  logs: join(dir, 'logs'),
  tmp: join(dir, 'tmp'),
  pidFile: join(dir, 'elasticsearch.pid'),
  stateFile: join(dir, 'started.json'),
  consoleLog: join(dir, 'logs', 'console.log'),
  clusterLog: join(dir, 'logs', `${clusterName}.log`),
});

const baseUrl = (o: EsInstanceOptions): string => `${o.httpTls ? 'https' : 'http'}://127.0.0.1:${o.httpPort}`;

function clientOptionsFor(o: EsInstanceOptions): ClientOptions {
  const u = o.users?.[0];
  return {
    node: baseUrl(o),
    ...(o.security && u ? { auth: { username: u.username, password: u.password } } : {}),
    ...(o.httpTls ? { tls: { ca: readFileSync(o.httpTls.ca) } } : {}),
  };
}

function esJdks(): Jdk[] {
  const ok = candidates(listJdks(), ES_MIN_JAVA);
  if (ok.length === 0) {
    throw new ServiceError('elasticsearch', 'pick JDK', `no JDK ${ES_MIN_JAVA} or later under /usr/lib/jvm (Elasticsearch ${ES_VERSION} needs one)`, undefined,
      'install one (apt-get install openjdk-17-jdk-headless) and run `connaudit services up` again');
  }
  return ok;
}

function prepare(o: EsInstanceOptions, who: RunAs | undefined): ReturnType<typeof paths> {
  const p = paths(o.dir, o.clusterName);
  ensureEsBaseDirs();
  for (const d of [o.dir, p.data, p.logs, p.tmp]) mkdirSync(d, { recursive: true });
  if (ES_RELOCATED && o.dir === esDefaultInstanceDir) linkFromRunDir(o.dir);
  // A private copy of the distribution's config per instance: the keystore and file-realm users are written there.
  if (!existsSync(join(p.config, 'jvm.options'))) cpSync(join(esHome, 'config'), p.config, { recursive: true });
  writeFileSync(join(p.config, 'elasticsearch.yml'), elasticsearchYml({
    clusterName: o.clusterName, nodeName: `connaudit-${o.httpPort}`, httpPort: o.httpPort, transportPort: o.transportPort,
    dataDir: p.data, logsDir: p.logs, security: o.security, httpTls: o.httpTls !== undefined,
  }));
  // Elasticsearch reads TLS files only from its config dir.
  if (o.httpTls) {
    cpSync(o.httpTls.certificate, join(p.config, 'http.crt'));
    cpSync(o.httpTls.key, join(p.config, 'http.key'));
  }
  mkdirSync(join(p.config, 'jvm.options.d'), { recursive: true });
  writeFileSync(join(p.config, 'jvm.options.d', 'connaudit-heap.options'), heapOptions(o.heapMb ?? 512));
  if (who) {
    const blocked = blockingAncestor(esHome, who) ?? blockingAncestor(o.dir, who);
    if (blocked) {
      throw new ServiceError('elasticsearch', 'prepare directories', `the ${who.name} account cannot enter ${blocked}, so it cannot read Elasticsearch or its data`, undefined,
        `allow it to pass through (chmod o+x ${blocked}) or clone connaudit somewhere world-traversable, then run \`connaudit services up\` again`);
    }
    chownTree(o.dir, who);
  }
  return p;
}

/** With a relocated instance, .run/elasticsearch still leads to its data and logs. */
function linkFromRunDir(target: string): void {
  const link = join(RUN_DIR, basename(target));
  mkdirSync(RUN_DIR, { recursive: true });
  try {
    lstatSync(link);
    return;
  } catch {
    symlinkSync(target, link);
    say(`elasticsearch: ${ES_RELOCATED}, so its files live in ${target} (linked from ${link})`);
  }
}

function envFor(o: EsInstanceOptions, jdk: Jdk, p: ReturnType<typeof paths>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: o.dir,
    LANG: 'C.UTF-8',
    ES_JAVA_HOME: jdk.home,
    ES_PATH_CONF: p.config,
    ES_TMPDIR: p.tmp,
  };
}

function addUsers(o: EsInstanceOptions, jdk: Jdk, p: ReturnType<typeof paths>, who: RunAs | undefined): void {
  for (const u of o.users ?? []) {
    const tool = join(esHome, 'bin', 'elasticsearch-users');
    const opts = { env: envFor(o, jdk, p), encoding: 'utf8' as const, ...(who ? { uid: who.uid, gid: who.gid } : {}) };
    // useradd refuses an existing name; delete first so a re-run sets the current password.
    spawnSync(tool, ['userdel', u.username], opts);
    const r = spawnSync(tool, ['useradd', u.username, '-p', u.password, '-r', u.roles.join(',')], opts);
    if (r.status !== 0) {
      const log = join(p.logs, 'elasticsearch-users.log');
      writeFileSync(log, `${r.stdout ?? ''}${r.stderr ?? ''}`);
      throw new ServiceError('elasticsearch', 'create file-realm user', `elasticsearch-users useradd ${u.username} exited with code ${r.status}`, log,
        'passwords need at least 6 characters and roles must exist (e.g. superuser); fix the call and try again');
    }
  }
}

/**
 * Runs `bin/elasticsearch -d -p PIDFILE`: with -d the launcher returns only
 * once the node has started (exit 0) or failed (non-zero, reason on stderr),
 * then leaves the server running on its own.
 */
function launch(o: EsInstanceOptions, jdk: Jdk, p: ReturnType<typeof paths>, who: RunAs | undefined): Promise<{ code: number | null; timedOut: boolean }> {
  const out = openSync(p.consoleLog, 'a');
  const child = spawn(join(esHome, 'bin', 'elasticsearch'), ['-d', '-p', p.pidFile], {
    // gc.log and hs_err files are written relative to the working dir (see the distribution's jvm.options).
    cwd: p.logs,
    env: envFor(o, jdk, p),
    detached: true,
    stdio: ['ignore', out, out],
    ...(who ? { uid: who.uid, gid: who.gid } : {}),
  });
  closeSync(out);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { child.unref(); resolve({ code: null, timedOut: true }); }, o.timeoutMs);
    child.once('error', () => { clearTimeout(timer); resolve({ code: -1, timedOut: false }); });
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, timedOut: false }); });
  });
}

function failureLog(p: ReturnType<typeof paths>): string {
  return existsSync(p.clusterLog) && statSync(p.clusterLog).size > 0 ? p.clusterLog : p.consoleLog;
}

async function waitHealthy(o: EsInstanceOptions, p: ReturnType<typeof paths>, label: string): Promise<EsProbe> {
  const s = step(`${label}: waiting for cluster health yellow at ${baseUrl(o)}`);
  let last: EsProbe = { ok: false };
  const why = await waitUntil(async () => (last = await probeEs(clientOptionsFor(o))).ok, {
    timeoutMs: o.timeoutMs,
    intervalMs: 1000,
    abort: () => (livePid(p.pidFile, MARKER) === undefined ? 'the Elasticsearch process exited' : undefined),
  });
  if (!why) { s.done(`status ${last.status}`); return last; }
  s.fail(why);
  throw new ServiceError('elasticsearch', 'wait for health', `${why}${last.error ? ` (last probe: ${last.error})` : ''}`, failureLog(p),
    `read the log lines above; run \`connaudit services up --timeout ${Math.round((o.timeoutMs * 2) / 1000)}\` if it was only slow`);
}

export async function startElasticsearch(o: EsInstanceOptions, label = 'elasticsearch'): Promise<EsInstance> {
  const p = paths(o.dir, o.clusterName);
  const running = livePid(p.pidFile, MARKER);
  if (running !== undefined) {
    const st = readState(p.stateFile);
    say(`${label}: already running (pid ${running}, Elasticsearch ${st?.version ?? ES_VERSION}) at ${baseUrl(o)}`);
    // Running is not the same as ready (another `up` may still be starting it): wait for health all the same.
    const probe = await waitHealthy(o, p, label);
    const jdk = st ? st.jdk : { home: 'unknown', version: probe.jvm ?? 'unknown', major: Number(probe.jvm?.split('.')[0]) };
    return { url: `${baseUrl(o)}`, pid: running, jdk, clientOptions: clientOptionsFor(o), logFile: p.clusterLog, alreadyRunning: true };
  }
  if (await portOpen('127.0.0.1', o.httpPort)) {
    const probe = o.acceptForeign ? await probeEs(clientOptionsFor(o)) : undefined;
    if (probe?.ok) {
      say(`${label}: an Elasticsearch ${probe.version ?? ''} not started from ${o.dir} is already answering at ${baseUrl(o)}; using it`);
      return { url: `${baseUrl(o)}`, pid: undefined, jdk: undefined, clientOptions: clientOptionsFor(o), logFile: p.clusterLog, alreadyRunning: true };
    }
    throw new ServiceError('elasticsearch', 'check port', `127.0.0.1:${o.httpPort} is in use, but not by an Elasticsearch this instance dir (${o.dir}) started`, undefined,
      `find it with \`ss -ltnp 'sport = :${o.httpPort}'\` and stop it, or set ES_URL to use that cluster as an external one`);
  }
  await fetchElasticsearch();
  // The shim is written against the 8.x plugin API (9.x changed the token
  // filter factory constructor). It only matters for API keys on a node with
  // security on, which the 9.x end-to-end node does not use.
  if (ES_MAJOR === 8) ensureAnalysisShim();
  else if (o.security) say(`${label}: Elasticsearch ${ES_VERSION} runs without the analysis shim, so API keys will fail (see services/ES_CAPABILITIES.md)`);
  const who = esRunAs();
  const jdks = esJdks();
  const tried: string[] = [];
  for (const [i, jdk] of jdks.entries()) {
    const pp = prepare(o, who);
    addUsers(o, jdk, pp, who);
    const s = step(`${label}: starting Elasticsearch ${ES_VERSION} on JDK ${jdk.version} as ${who?.name ?? 'the current user'}`);
    const logSizeBefore = existsSync(pp.clusterLog) ? statSync(pp.clusterLog).size : 0;
    const r = await launch(o, jdk, pp, who);
    if (r.timedOut) {
      s.fail(`no start-up answer within ${Math.round(o.timeoutMs / 1000)}s`);
      throw new ServiceError('elasticsearch', 'start', `the node did not report started within ${Math.round(o.timeoutMs / 1000)}s`, failureLog(pp),
        `it may still be starting: run \`connaudit services status\`, or \`connaudit services up --timeout ${Math.round((o.timeoutMs * 2) / 1000)}\``);
    }
    if (r.code !== 0) {
      s.fail(`exit code ${r.code}`);
      tried.push(`JDK ${jdk.version}: exit code ${r.code}`);
      // A JDK the distribution cannot run fails before the node writes its log; once the node has
      // logged, the JDK worked and the cause is elsewhere (port, settings, disk), so another JDK would not help.
      const nodeLogged = existsSync(pp.clusterLog) && statSync(pp.clusterLog).size > logSizeBefore;
      const next = nodeLogged ? undefined : jdks[i + 1];
      if (next) {
        const keep = join(pp.logs, `console-jdk${jdk.major}.log`);
        if (existsSync(pp.consoleLog)) { copyFileSync(pp.consoleLog, keep); rmSync(pp.consoleLog); }
        say(`${label}: failed to start on JDK ${jdk.major} (log kept in ${keep}); trying JDK ${next.major}`);
        continue;
      }
      // An older cluster log may exist from earlier runs; it explains this failure only if this attempt wrote to it.
      throw new ServiceError('elasticsearch', 'start', `the node failed to start (${tried.join('; ')})`, nodeLogged ? pp.clusterLog : pp.consoleLog,
        'read the log lines above; a port conflict, a bad setting in elasticsearch.yml or a full disk are the usual causes');
    }
    s.done();
    const pid = livePid(pp.pidFile, MARKER);
    if (pid === undefined) {
      throw new ServiceError('elasticsearch', 'start', `the launcher reported success but ${pp.pidFile} names no live Elasticsearch process`, failureLog(pp),
        'run `connaudit services up` again; if it repeats, remove the instance dir and retry');
    }
    writeState(pp.stateFile, {
      service: 'elasticsearch', version: ES_VERSION, jdk: { home: jdk.home, version: jdk.version, major: jdk.major },
      startedAt: new Date().toISOString(), endpoint: `${baseUrl(o)}`, dataDir: pp.data, logFile: pp.clusterLog,
      jdkNote: tried.length ? `newest JDK that started it; tried first: ${tried.join('; ')}` : `newest JDK under /usr/lib/jvm (>= ${ES_MIN_JAVA})`,
    });
    await waitHealthy(o, pp, label);
    return { url: `${baseUrl(o)}`, pid, jdk, clientOptions: clientOptionsFor(o), logFile: pp.clusterLog, alreadyRunning: false };
  }
  throw new Error('unreachable: the JDK list was checked to be non-empty');
}

export async function stopElasticsearch(dir: string, clusterName: string, timeoutMs: number, label = 'elasticsearch'): Promise<string> {
  const p = paths(dir, clusterName);
  const pid = livePid(p.pidFile, MARKER);
  if (pid === undefined) return `${label}: not running`;
  const s = step(`${label}: stopping pid ${pid}`);
  const how = await stopPid(pid, MARKER, timeoutMs);
  rmSync(p.pidFile, { force: true });
  s.done(how === 'killed' ? `did not stop within ${Math.round(timeoutMs / 1000)}s, killed` : how);
  return `${label}: ${how}`;
}

export function esInstanceState(dir: string, clusterName: string) {
  const p = paths(dir, clusterName);
  const pid = livePid(p.pidFile, MARKER);
  return { pid, state: pid !== undefined ? readState(p.stateFile) : undefined, dataDir: p.data, logFile: p.clusterLog };
}
