import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ServiceError } from './errors.js';
import { ES_USER } from './layout.js';

// Elasticsearch refuses to run as root. As root we run it as a dedicated
// system account (created on first use); as any other user it simply runs as
// that user.

export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

function idOf(flag: '-u' | '-g', user: string): number | undefined {
  const r = spawnSync('id', [flag, user], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return r.status === 0 && Number.isInteger(n) ? n : undefined;
}

/** undefined when we are not root: run Elasticsearch as ourselves. */
export function esRunAs(user = ES_USER): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (idOf('-u', user) === undefined) {
    const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', user], { encoding: 'utf8' });
    if (r.status !== 0 && idOf('-u', user) === undefined) {
      throw new ServiceError('elasticsearch', 'create user', `useradd ${user} failed: ${(r.stderr || r.error?.message || '').trim()}`, undefined,
        `create an unprivileged account yourself (useradd --system --user-group ${user}) and run \`connaudit services up\` again`);
    }
  }
  return { uid: idOf('-u', user)!, gid: idOf('-g', user)!, name: user };
}

/**
 * The first directory on the way to `path` that `who` cannot enter, if any.
 * A fresh clone under /root (mode 700) is the common case: Elasticsearch's
 * account could not even read its own config there.
 */
export function blockingAncestor(path: string, who: RunAs): string | undefined {
  const chain: string[] = [];
  for (let p = path; ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const dir of chain) {
    let st;
    try { st = statSync(dir); } catch { return undefined; }
    const m = st.mode;
    const ok = (st.uid === who.uid && (m & 0o100) !== 0) || (st.gid === who.gid && (m & 0o010) !== 0) || (m & 0o001) !== 0;
    if (!ok) return dir;
  }
  return undefined;
}

export function chownTree(dir: string, who: RunAs): void {
  const r = spawnSync('chown', ['-R', `${who.uid}:${who.gid}`, dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new ServiceError('elasticsearch', 'prepare directories', `chown -R ${who.name} ${dir} failed: ${r.stderr.trim()}`, undefined,
      `make ${dir} writable by ${who.name} and run \`connaudit services up\` again`);
  }
}
