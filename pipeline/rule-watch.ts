import { watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../lib/log.js';
import type { ReloadResult } from './compose.js';

// Hot reload of rules on SIGHUP and on file change. Editors save in bursts
// (write temp, rename, chmod), so changes are debounced into one reload. A
// rejected reload is logged with file:line and the running rules stay.

export function watchRules(paths: string | string[], reload: () => ReloadResult, log: Logger, debounceMs = 500): () => void {
  let timer: NodeJS.Timeout | undefined;
  const run = (why: string) => {
    const r = reload();
    if (r.ok) log.info({ why, rules: r.rules }, 'rules reloaded');
    else log.error({ why, errors: r.errors }, `rules NOT reloaded, the running rules stay in force: ${r.errors.length} problem(s), first: ${r.errors[0] ?? ''}`);
  };
  const schedule = (why: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => run(why), debounceMs);
  };
  const watchers: FSWatcher[] = [];
  for (const p of Array.isArray(paths) ? paths : [paths]) {
    try {
      watchers.push(watch(p, { persistent: false }, (_ev, file) => schedule(`file change: ${file ?? p}`)));
    } catch (err) {
      log.warn({ path: p, err: (err as Error).message }, 'cannot watch rules path; reload with SIGHUP');
    }
  }
  const onHup = () => schedule('SIGHUP');
  process.on('SIGHUP', onHup);
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
    process.off('SIGHUP', onHup);
  };
}
