import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServiceError } from './errors.js';
import { listJdks } from './jdk.js';
import { CACHE_DIR, ES_VERSION, esHome, REPO_ROOT } from './layout.js';
import { step } from './progress.js';

// Builds and installs services/es-analysis-shim (a tiny Elasticsearch plugin,
// see its Java source for why) into the distribution's plugins/ folder. It is
// compiled here with the machine's JDK against the distribution's own jars,
// because a plugin must be built for the exact Elasticsearch version, and it
// is rebuilt whenever its source changes.

export const SHIM_NAME = 'connaudit-analysis-shim';
const SRC_DIR = join(REPO_ROOT, 'services', 'es-analysis-shim');
const SOURCE = join(SRC_DIR, 'src', 'io', 'connaudit', 'esshim', 'AnalysisShimPlugin.java');
export const shimDir = (home = esHome) => join(home, 'plugins', SHIM_NAME);

function sourceHash(): string {
  return createHash('sha256').update(readFileSync(SOURCE)).update(readFileSync(join(SRC_DIR, 'plugin-descriptor.properties.in'))).update(ES_VERSION).digest('hex').slice(0, 16);
}

export function shimInstalled(home = esHome): boolean {
  const marker = join(shimDir(home), '.source-hash');
  return existsSync(marker) && readFileSync(marker, 'utf8').trim() === sourceHash();
}

export function ensureAnalysisShim(home = esHome): void {
  if (shimInstalled(home)) return;
  // Any JDK >= 17 with javac and jar; --release 17 pins the bytecode level whichever one compiles it.
  const jdk = listJdks().find((j) => j.major >= 17 && existsSync(join(j.home, 'bin', 'javac')) && existsSync(join(j.home, 'bin', 'jar')));
  if (!jdk) {
    throw new ServiceError('elasticsearch', 'build analysis shim', 'no JDK with javac and jar under /usr/lib/jvm', undefined,
      'install a full JDK (apt-get install openjdk-17-jdk-headless) and run `connaudit services up` again');
  }
  const s = step(`building the ${SHIM_NAME} Elasticsearch plugin with JDK ${jdk.major}`);
  // Build outside plugins/: Elasticsearch treats every entry there as a plugin.
  const work = join(CACHE_DIR, `${SHIM_NAME}.build`);
  rmSync(work, { recursive: true, force: true });
  const classes = join(work, 'classes');
  const out = join(work, SHIM_NAME);
  mkdirSync(classes, { recursive: true });
  mkdirSync(out, { recursive: true });
  const logFile = join(CACHE_DIR, `${SHIM_NAME}.build.log`);
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(join(jdk.home, 'bin', cmd), args, { encoding: 'utf8' });
    writeFileSync(logFile, `$ ${cmd} ${args.join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}`);
    if (r.status !== 0) {
      s.fail();
      throw new ServiceError('elasticsearch', 'build analysis shim', `${cmd} exited with code ${r.status}`, logFile,
        `the plugin source is ${SOURCE}; fix the error shown and run \`connaudit services up\` again`);
    }
  };
  run('javac', ['--release', '17', '-nowarn', '-cp', join(home, 'lib', '*'), '-d', classes, SOURCE]);
  run('jar', ['cf', join(out, `${SHIM_NAME}-${ES_VERSION}.jar`), '-C', classes, '.']);
  writeFileSync(join(out, 'plugin-descriptor.properties'),
    readFileSync(join(SRC_DIR, 'plugin-descriptor.properties.in'), 'utf8').replaceAll('@ES_VERSION@', ES_VERSION));
  // Written last: a half-built plugin dir never looks current.
  writeFileSync(join(out, '.source-hash'), `${sourceHash()}\n`);
  mkdirSync(join(home, 'plugins'), { recursive: true });
  rmSync(shimDir(home), { recursive: true, force: true });
  renameSync(out, shimDir(home));
  rmSync(work, { recursive: true, force: true });
  s.done(shimDir(home));
}
